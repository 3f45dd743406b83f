fn main() {
    println!("etwnet");
}
