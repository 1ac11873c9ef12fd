//! Tool names: `{connector}__{action}`, made of the characters every MCP client accepts.
//!
//! The rule: in the connector's id and the action's id, ASCII letters, digits, `_` and `-` are
//! kept and every other character (`.`, `/`, a space, ..) becomes `_`; the two are joined with
//! `__`. `simple-chat` and `sendMessage` make `simple-chat__sendMessage`. A name longer than 64
//! characters keeps its first 55 and ends in `_` and 8 hex digits of the SHA-256 of the whole
//! name, so it stays unique and the same on every start. Two actions whose names would
//! collide (`a.b` and `a_b`) are told apart the same way: the second, in id order, gets the
//! hash suffix.

use sha2::{Digest, Sha256};

/// The longest tool name some clients accept.
pub const MAX_TOOL_NAME: usize = 64;

/// The tool name of action `action` of connector `connector`, by the rule above (without the
/// collision suffix, which only a whole list of tools can decide).
pub fn tool_name(connector: &str, action: &str) -> String {
    let name = format!("{}__{}", legal(connector), legal(action));
    if name.len() <= MAX_TOOL_NAME { name } else { hashed(&name, connector, action) }
}

/// `name` cut short, with a suffix from the ids it was made of.
pub(super) fn hashed(name: &str, connector: &str, action: &str) -> String {
    let digest = Sha256::digest(format!("{connector}/{action}").as_bytes());
    let suffix: String = digest.iter().take(4).map(|byte| format!("{byte:02x}")).collect();
    let keep: String = name.chars().take(MAX_TOOL_NAME - 9).collect();
    format!("{keep}_{suffix}")
}

fn legal(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_join_with_two_underscores() {
        assert_eq!(tool_name("simple-chat", "sendMessage"), "simple-chat__sendMessage");
    }

    #[test]
    fn other_characters_become_underscores() {
        assert_eq!(tool_name("acme.crm", "contacts/create v2"), "acme_crm__contacts_create_v2");
    }

    #[test]
    fn long_names_are_cut_with_a_stable_suffix() {
        let name = tool_name(&"c".repeat(40), &"a".repeat(40));
        assert_eq!(name.len(), MAX_TOOL_NAME);
        assert_eq!(name, tool_name(&"c".repeat(40), &"a".repeat(40)));
        assert_ne!(name, tool_name(&"c".repeat(40), &"a".repeat(41)));
    }
}
