use ws_routes::route;

struct Echo;

#[route("/echo")]
impl Default for Echo {
    fn default() -> Self {
        Echo
    }
}

fn main() {}
