//! A `#[route]` function declared in a module is listed by its path.

use ws_routes::{routes, Routes};

mod handlers {
    use ws_routes::{route, WebSocket};

    #[route("/light/{status}")]
    pub async fn light(_ws: WebSocket, status: String) {
        let _ = status;
    }

    pub mod admin {
        use ws_routes::{route, WebSocket};

        #[route("/admin")]
        pub async fn panel(_ws: WebSocket) {}
    }
}

const ROUTES: Routes = routes![handlers::light, crate::handlers::admin::panel];

fn main() {
    assert_eq!(ROUTES.len(), 2);
    let light = ROUTES.iter().next().unwrap();
    assert_eq!(light.pattern(), "/light/{status}");
    assert_eq!(light.handler_name(), "light");
    // A handler is still an ordinary async fn that can be called directly.
    let _ = handlers::admin::panel;
}
