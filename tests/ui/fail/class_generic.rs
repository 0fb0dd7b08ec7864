use ws_routes::{route, Session};

#[derive(Default)]
struct Route<T> {
    last: Option<T>,
}

#[route("/generic")]
impl<T> Route<T> {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = (session, text, &self.last);
    }
}

fn main() {}
