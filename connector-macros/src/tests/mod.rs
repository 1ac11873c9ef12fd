//! Tests of the expansion functions on `proc_macro2` streams, outside a compiler: malformed
//! input must come back as a `compile_error!` (never a panic), and well-formed input as the
//! code in the snapshots.

mod expansion;
mod fuzz;
mod malformed;

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

/// The messages of the `compile_error!`s in `tokens`, in order.
pub fn errors(tokens: &TokenStream) -> Vec<String> {
    let mut messages = Vec::new();
    collect_errors(tokens.clone(), &mut messages);
    messages
}

fn collect_errors(tokens: TokenStream, messages: &mut Vec<String>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Ident(ident) if ident == "compile_error" => {
                if let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(body))) =
                    (trees.get(i + 1), trees.get(i + 2))
                    && bang.as_char() == '!'
                {
                    let message: syn::LitStr =
                        syn::parse2(body.stream()).expect("compile_error! takes one string literal");
                    messages.push(message.value());
                }
            }
            TokenTree::Group(group) => collect_errors(group.stream(), messages),
            _ => {}
        }
    }
}

/// Asserts that `tokens` hold exactly one `compile_error!` and that it contains `expected`.
#[track_caller]
pub fn assert_one_error(tokens: &TokenStream, expected: &str) {
    let messages = errors(tokens);
    assert_eq!(messages.len(), 1, "expected one error containing {expected:?}, got {messages:#?}");
    assert!(messages[0].contains(expected), "expected an error containing {expected:?}, got {:?}", messages[0]);
}

/// Asserts that one of the `compile_error!`s in `tokens` contains `expected`.
#[track_caller]
pub fn assert_has_error(tokens: &TokenStream, expected: &str) {
    let messages = errors(tokens);
    assert!(
        messages.iter().any(|message| message.contains(expected)),
        "expected an error containing {expected:?}, got {messages:#?}"
    );
}

/// One step of a token stream walked depth-first.
#[derive(Clone)]
pub enum Step {
    Open(Delimiter),
    Close,
    Leaf(TokenTree),
}

pub fn flatten(tokens: TokenStream, steps: &mut Vec<Step>) {
    for tree in tokens {
        match tree {
            TokenTree::Group(group) => {
                steps.push(Step::Open(group.delimiter()));
                flatten(group.stream(), steps);
                steps.push(Step::Close);
            }
            leaf => steps.push(Step::Leaf(leaf)),
        }
    }
}

/// Every prefix of `tokens`, cut at each token at any depth, with the groups left open closed:
/// `impl A { fn f(x` becomes `impl A { fn f(x) }`. The first is empty, the last is `tokens`.
pub fn truncations(tokens: &TokenStream) -> Vec<TokenStream> {
    let mut steps = Vec::new();
    flatten(tokens.clone(), &mut steps);
    (0..=steps.len()).map(|len| rebuild(&steps[..len])).collect()
}

pub fn rebuild(steps: &[Step]) -> TokenStream {
    // A stack of groups being built; the bottom one is the stream itself.
    let mut stack: Vec<(Option<Delimiter>, Vec<TokenTree>)> = vec![(None, Vec::new())];
    let close = |stack: &mut Vec<(Option<Delimiter>, Vec<TokenTree>)>| {
        let (delimiter, trees) = stack.pop().expect("a group to close");
        let group = Group::new(delimiter.expect("the stream itself is never closed"), trees.into_iter().collect());
        stack.last_mut().expect("an enclosing stream").1.push(TokenTree::Group(group));
    };
    for step in steps {
        match step {
            Step::Open(delimiter) => stack.push((Some(*delimiter), Vec::new())),
            Step::Close => close(&mut stack),
            Step::Leaf(tree) => stack.last_mut().expect("an enclosing stream").1.push(tree.clone()),
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack.pop().expect("the stream").1.into_iter().collect()
}
