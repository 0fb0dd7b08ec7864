use ws_routes::route;

#[derive(Default)]
struct Log {
    lines: Vec<String>,
}

#[route("/log")]
impl Log {
    async fn on_text(&mut self, text: String) {
        self.lines.push(text);
    }
}

fn main() {}
