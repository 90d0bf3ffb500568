//! The `#[oc_runtime::main]` attribute: runs a function's body in a coroutine on the global
//! runtime. Use it through `oc_runtime::main`.

use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

/// Runs the function's body in a coroutine on the global runtime and returns its result.
///
/// Optional arguments: `workers = N`, `stack_size = BYTES`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args, item) {
        Ok(tokens) => tokens,
        Err(msg) => format!("::core::compile_error!({msg:?});").parse().expect("valid tokens"),
    }
}

fn expand(args: TokenStream, item: TokenStream) -> Result<TokenStream, String> {
    let (workers, stack_size) = parse_args(args)?;
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        _ => return Err("#[oc_runtime::main] must be placed on a function with a body".into()),
    };
    let mut saw_fn = false;
    let mut saw_params = false;
    for t in &tokens {
        match t {
            TokenTree::Ident(i) if i.to_string() == "async" => {
                return Err("#[oc_runtime::main] functions are not async: remove `async`".into());
            }
            TokenTree::Ident(i) if i.to_string() == "fn" => saw_fn = true,
            TokenTree::Group(g) if saw_fn && !saw_params && g.delimiter() == Delimiter::Parenthesis => {
                saw_params = true;
                if !g.stream().is_empty() {
                    return Err("#[oc_runtime::main] functions take no arguments".into());
                }
            }
            _ => {}
        }
    }
    if !saw_fn {
        return Err("#[oc_runtime::main] must be placed on a function".into());
    }
    let configure = if workers.is_some() || stack_size.is_some() {
        let opt = |v: Option<String>| {
            v.map_or("::core::option::Option::None".to_owned(), |n| format!("::core::option::Option::Some({n})"))
        };
        format!("::oc_runtime::__private::configure_global({}, {});", opt(workers), opt(stack_size))
    } else {
        String::new()
    };
    let call: TokenStream = format!("{configure} ::oc_runtime::__private::block_on(move || BODY)")
        .parse()
        .map_err(|e| format!("internal error: {e:?}"))?;
    let call = replace_placeholder(call, &body);
    tokens.push(TokenTree::Group(Group::new(Delimiter::Brace, call)));
    Ok(tokens.into_iter().collect())
}

/// Replaces the `BODY` placeholder, wherever it is nested, with the function's block.
fn replace_placeholder(stream: TokenStream, body: &Group) -> TokenStream {
    stream
        .into_iter()
        .map(|t| match t {
            TokenTree::Ident(i) if i.to_string() == "BODY" => TokenTree::Group(body.clone()),
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), replace_placeholder(g.stream(), body));
                inner.set_span(g.span());
                TokenTree::Group(inner)
            }
            other => other,
        })
        .collect()
}

fn parse_args(args: TokenStream) -> Result<(Option<String>, Option<String>), String> {
    let mut workers = None;
    let mut stack_size = None;
    let mut iter = args.into_iter().peekable();
    while let Some(t) = iter.next() {
        let key = match t {
            TokenTree::Ident(i) => i.to_string(),
            TokenTree::Punct(p) if p.as_char() == ',' => continue,
            other => return Err(format!("unexpected `{other}` in #[oc_runtime::main(..)]")),
        };
        match iter.next() {
            Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
            _ => {
                return Err(format!("expected `{key} = VALUE` in #[oc_runtime::main(..)]"));
            }
        }
        let value = match iter.next() {
            Some(TokenTree::Literal(l)) => l.to_string().replace('_', ""),
            _ => return Err(format!("expected a number after `{key} =`")),
        };
        if value.parse::<usize>().is_err() {
            return Err(format!("`{key}` must be a whole number, got `{value}`"));
        }
        match key.as_str() {
            "workers" => workers = Some(value),
            "stack_size" => stack_size = Some(value),
            _ => {
                return Err(format!("unknown argument `{key}`; expected `workers` or `stack_size`"));
            }
        }
    }
    Ok((workers, stack_size))
}
