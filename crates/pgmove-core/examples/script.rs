//! Print the pre-data (or post-data, or sequences) script of a database:
//! `cargo run --example script -- "host=… dbname=…" [pre|post|seq]`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let client = pgmove_core::conn::connect_str(&args[1]).await?;
    let cat = pgmove_core::catalog::read(&client).await?;
    let opts = pgmove_core::render::Options::default();
    let section = args.get(2).map(String::as_str).unwrap_or("pre");
    let sections = match section {
        "post" => vec![pgmove_core::render::post_data(&cat, &opts)],
        "seq" => vec![pgmove_core::render::setval_items(&cat, 0)],
        "full" => vec![
            pgmove_core::render::pre_data(&cat, &opts),
            pgmove_core::render::post_data(&cat, &opts),
        ],
        _ => vec![pgmove_core::render::pre_data(&cat, &opts)],
    };
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    for s in sections {
        let (i, w) = pgmove_core::sort::order(&cat, s);
        items.extend(i);
        warnings.extend(w);
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    pgmove_core::apply::write_script(&mut std::io::stdout(), section, &items)?;
    Ok(())
}
