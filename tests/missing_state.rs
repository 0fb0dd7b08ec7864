//! A route that takes a state the server was not given: binding fails with a sentence that
//! says what to add, in the text a `main` returning `std::io::Result<()>` prints (std's
//! `Termination` writes `Error: {error:?}`), and an example's `main` prints it with `Display`.

use ws_routes::error::MissingState;
use ws_routes::{Server, State, WebSocket, route, routes};

#[derive(Clone)]
struct Db;

#[route("/items/{id}")]
async fn items(_ws: WebSocket, id: u32, State(_db): State<Db>) {
    let _ = id;
}

const SENTENCE: &str = "route `items` (\"/items/{id}\") takes `State<Db>`, but the server has \
                        no `Db`: add one with `Server::with_state`";

#[tokio::test]
async fn main_returning_io_result_prints_what_to_add() {
    let error = Server::new(routes![items])
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert_eq!(
        format!("Error: {error:?}"),
        format!("Error: Custom {{ kind: InvalidInput, error: {SENTENCE} }}")
    );
    assert_eq!(error.to_string(), SENTENCE);
    let missing = error.get_ref().unwrap().downcast_ref::<MissingState>();
    assert_eq!(missing.map(MissingState::state), Some("Db"));
}

#[tokio::test]
async fn the_state_given_the_server_binds() {
    let bound = Server::new(routes![items])
        .with_state(Db)
        .bind("127.0.0.1:0")
        .await;
    assert!(bound.is_ok());
}
