//! What tests read from the store page (used by the tests that start nodes
//! and by `web_test`, which includes only this file).

/// The store page without the browser's own line (`window.cartId`, which
/// differs for every browser): what every shopper is shown alike.
pub fn shared_page(html: &str) -> String {
    let start = html
        .find("<script>window.cartId")
        .unwrap_or_else(|| panic!("no shopper line on the page: {html}"));
    let end = start
        + html[start..]
            .find("</script>")
            .expect("the line's script ends")
        + 9;
    format!("{}{}", &html[..start], &html[end..])
}
