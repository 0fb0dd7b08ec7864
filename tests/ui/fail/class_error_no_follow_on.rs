//! A class-style route with a mistake reports that mistake only: `routes![]` naming it does
//! not add "`Echo` is not a route".

use ws_routes::{route, routes, Routes, Session};

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    async fn on_txt(&mut self, session: &mut Session, text: String) {
        let _ = (session, text);
    }
}

const ROUTES: Routes = routes![Echo];

fn main() {
    let _ = ROUTES;
}
