//! The checked-in schema.graphql is the schema the server serves.

/// Regenerate with `cargo run -- schema > schema.graphql` (or run this test with BEIAN_UPDATE_SCHEMA=1).
#[test]
fn schema_graphql_matches_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let served = beian::graphql::sdl();
    if std::env::var_os("BEIAN_UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &served).expect("write schema.graphql");
    }
    let checked_in = std::fs::read_to_string(path).expect("schema.graphql exists");
    assert!(
        checked_in == served,
        "schema.graphql is out of date: regenerate it with `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn every_type_field_and_argument_is_documented() {
    let sdl = beian::graphql::sdl();
    let mut undocumented = Vec::new();
    let mut in_doc = false;
    let mut in_schema_block = false;
    let mut previous = "";
    for line in sdl.lines() {
        let trimmed = line.trim();
        if trimmed == "\"\"\"" {
            in_doc = !in_doc;
        } else if trimmed.starts_with("schema {") {
            in_schema_block = true;
        } else if in_schema_block {
            in_schema_block = trimmed != "}";
        } else if !in_doc
            && !trimmed.is_empty()
            && !trimmed.starts_with('}')
            && !trimmed.starts_with(')')
            && !trimmed.starts_with("directive ")
            && !trimmed.starts_with("scalar ")
            && previous != "\"\"\""
        {
            undocumented.push(trimmed.to_owned());
        }
        previous = trimmed;
    }
    assert!(undocumented.is_empty(), "undocumented schema items: {undocumented:#?}");
}

#[test]
fn every_deprecation_names_its_replacement_and_the_version_is_served() {
    let sdl = beian::graphql::sdl();
    for line in sdl.lines().filter(|l| l.contains("@deprecated")) {
        assert!(line.contains("reason:") && line.contains("use "), "a deprecation without a replacement: {line}");
    }
    let version = beian::graphql::reference::SCHEMA_VERSION;
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().expect("numeric")).collect();
    assert_eq!(parts.len(), 3, "semantic version: {version}");
    assert!(sdl.contains("apiVersion: ApiVersion!"));
}
