use ws_routes::{CloseFrame, route, Close};

#[derive(Default)]
struct Echo;

#[route("/echo")]
impl Echo {
    async fn on_close(&mut self, _frame: Option<CloseFrame>) -> Result<(), Close> {
        Ok(())
    }
}

fn main() {}
