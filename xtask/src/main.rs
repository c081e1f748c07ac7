//! Developer tasks: `cargo xtask demo`, `cargo xtask test`, `cargo xtask pg fetch`.
fn main() -> anyhow::Result<()> {
    Ok(())
}
