//! The smallest class-style route: a `Default` type with only `on_text`.

use ws_routes::{route, routes, Routes, Session};

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    async fn on_text(&mut self, session: &mut Session, text: String) {
        let _ = session.send(text).await;
    }
}

const ROUTES: Routes = routes![Echo];

fn main() {
    assert_eq!(ROUTES.len(), 1);
    let echo = ROUTES.iter().next().unwrap();
    assert_eq!(echo.pattern(), "/echo");
    assert_eq!(echo.handler_name(), "Echo");
}
