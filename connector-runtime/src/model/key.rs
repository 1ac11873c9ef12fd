//! Member keys: how generated code names an action or trigger fn in a type (a const generic).

/// The key of an action or trigger fn: the 64-bit FNV-1a hash of its name. The macros compute
/// the same function at expansion time.
pub const fn fn_key(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}
