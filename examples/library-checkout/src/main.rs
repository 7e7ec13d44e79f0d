//! # library-checkout
//!
//! A whole sale with `commerce-core` as a library, with no server and no
//! database: catalog, a cart with two promotions and its explained price, an
//! idempotent checkout, a sandbox payment delivered as a signed webhook (and
//! delivered again, changing nothing), the receipt, the stock moves and the
//! outbox. The steps are in `src/lib.rs`; `tests/sale.rs` checks the outcome.
//!
//! Run with: `cargo run -p library-checkout`

#[tokio::main(flavor = "current_thread")]
async fn main() -> library_checkout::Result<()> {
    let sale = library_checkout::run().await?;
    print!("{}", sale.text);
    Ok(())
}
