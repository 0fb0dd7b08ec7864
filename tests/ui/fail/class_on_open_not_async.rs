use ws_routes::{route, Session};

#[derive(Default)]
struct Greeter;

#[route("/greet")]
impl Greeter {
    fn on_open(&mut self, session: &mut Session) {
        let _ = session;
    }
}

fn main() {}
