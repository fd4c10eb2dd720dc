//! The README's table of columns is the column registry's: adding a column to
//! `column::COLUMNS` without regenerating the table (`pcapframe columns --markdown`) fails.

#[test]
fn readme_column_table_is_the_registry() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README beside the workspace");
    let begin = "<!-- columns: begin (generated: pcapframe columns --markdown) -->\n";
    let start = readme.find(begin).expect("the table's begin marker") + begin.len();
    let end = readme[start..]
        .find("<!-- columns: end -->")
        .expect("its end marker")
        + start;
    assert_eq!(
        &readme[start..end],
        pcapframe::column::markdown_table(),
        "regenerate the README's table with `pcapframe columns --markdown`"
    );
}

/// The same for the flow table's columns (`pcapframe columns --flows --markdown`).
#[test]
fn readme_flow_column_table_is_the_registry() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README beside the workspace");
    let begin = "<!-- flow columns: begin (generated: pcapframe columns --flows --markdown) -->\n";
    let start = readme.find(begin).expect("the flow table's begin marker") + begin.len();
    let end = readme[start..]
        .find("<!-- flow columns: end -->")
        .expect("its end marker")
        + start;
    assert_eq!(
        &readme[start..end],
        pcapframe::flow::flow_markdown_table(),
        "regenerate the README's flow table with `pcapframe columns --flows --markdown`"
    );
}
