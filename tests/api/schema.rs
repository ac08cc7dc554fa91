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
    for line in sdl.lines().filter(|l| l.contains("@deprecated") && !l.starts_with("directive @deprecated")) {
        assert!(line.contains("reason:") && line.contains("use "), "a deprecation without a replacement: {line}");
    }
    let version = beian::graphql::reference::SCHEMA_VERSION;
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().expect("numeric")).collect();
    assert_eq!(parts.len(), 3, "semantic version: {version}");
    assert!(sdl.contains("apiVersion: ApiVersion!"));
}

/// The values of an enum of the schema.
fn enum_values(sdl: &str, name: &str) -> Vec<String> {
    let start = sdl.find(&format!("\nenum {name} {{")).unwrap_or_else(|| panic!("enum {name} in the schema"));
    let body = &sdl[start..][..sdl[start..].find("\n}").expect("the enum ends")];
    let mut in_doc = false;
    let mut values = Vec::new();
    for line in body.lines().skip(2).map(str::trim) {
        if line == "\"\"\"" {
            in_doc = !in_doc;
        } else if !in_doc && !line.is_empty() && !line.starts_with('"') {
            values.push(line.to_owned());
        }
    }
    values
}

/// The fields of the mutation root.
fn mutations(sdl: &str) -> Vec<String> {
    let start = sdl.find("\ntype MutationRoot {").expect("the mutation root");
    let body = &sdl[start..][..sdl[start..].find("\n}").expect("it ends")];
    body.lines()
        .filter(|l| l.starts_with('\t') && !l.starts_with("\t\t") && !l.trim_start().starts_with('"'))
        .filter_map(|l| l.trim().split(['(', ':']).next().map(str::to_owned))
        .filter(|name| !name.is_empty() && name.chars().next().is_some_and(char::is_lowercase))
        .collect()
}

#[test]
fn every_available_action_names_a_mutation_one_to_one() {
    let sdl = beian::graphql::sdl();
    let mutations = mutations(&sdl);
    assert!(mutations.contains(&"submitFiling".to_owned()) && mutations.len() > 40, "{mutations:?}");
    let values = enum_values(&sdl, "AvailableAction");
    assert_eq!(values.len(), 11, "{values:?}");
    for value in values {
        // SUBMIT_FILING is submitFiling.
        let mut camel = String::new();
        for (i, word) in value.split('_').enumerate() {
            let lower = word.to_lowercase();
            match i {
                0 => camel.push_str(&lower),
                _ => camel.extend(
                    lower.chars().next().map(|c| c.to_ascii_uppercase()).into_iter().chain(lower.chars().skip(1)),
                ),
            }
        }
        assert!(mutations.contains(&camel), "AvailableAction.{value} names no mutation ({camel})");
    }
}

/// README.md's table of the review workflow is the transition table the server enforces.
#[test]
fn the_readme_workflow_table_is_the_servers() {
    let readme = include_str!("../../README.md");
    let table = beian::services::workflow::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's workflow table (\"The review workflow\") differs from the server's; replace it with:\n{table}"
    );
}

/// README.md's table of error codes is the server's list of them.
#[test]
fn the_readme_lists_every_error_code() {
    let readme = include_str!("../../README.md");
    let table = beian::graphql::error::codes_markdown();
    assert!(
        readme.contains(&table),
        "README.md's \"Error codes\" differs from the server's; replace it with:\n{table}"
    );
    // The schema's enumeration has every field code.
    let sdl = beian::graphql::sdl();
    let values = enum_values(&sdl, "FieldErrorCode");
    assert!(values.len() > 60 && values.contains(&"NAME_TOO_SHORT".to_owned()), "{values:?}");
    assert!(values.iter().all(|v| table.contains(&format!("| `{v}` |"))), "{values:?}");
}

#[test]
fn a_webhook_event_type_is_a_filing_action_or_a_ping() {
    let sdl = beian::graphql::sdl();
    let mut expected = enum_values(&sdl, "FilingAction");
    expected.push("PING".to_owned());
    expected.sort();
    let mut found = enum_values(&sdl, "WebhookEventType");
    found.sort();
    assert!(expected.len() > 20);
    assert_eq!(found, expected);
}
