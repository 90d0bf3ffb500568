//! The `#[oc_runtime::main]` attribute: runs a function's body in a coroutine on the global
//! runtime. Use it through `oc_runtime::main`.

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs the function's body in a coroutine on the global runtime and returns its result.
///
/// Optional arguments: `workers = N`, `stack_size = BYTES`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args, item) {
        Ok(tokens) => tokens,
        Err(msg) => format!("::core::compile_error!({msg:?});")
            .parse()
            .expect("valid tokens"),
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
    for t in &tokens {
        if let TokenTree::Ident(i) = t {
            match i.to_string().as_str() {
                "async" => {
                    return Err(
                        "#[oc_runtime::main] functions are not async: remove `async`".into(),
                    );
                }
                "fn" => saw_fn = true,
                _ => {}
            }
        }
        if let TokenTree::Group(g) = t {
            if saw_fn && g.delimiter() == Delimiter::Parenthesis && !g.stream().is_empty() {
                return Err("#[oc_runtime::main] functions take no arguments".into());
            }
        }
    }
    if !saw_fn {
        return Err("#[oc_runtime::main] must be placed on a function".into());
    }
    let configure = if workers.is_some() || stack_size.is_some() {
        let opt = |v: Option<String>| {
            v.map_or("::core::option::Option::None".to_owned(), |n| {
                format!("::core::option::Option::Some({n})")
            })
        };
        format!(
            "::oc_runtime::__private::configure_global({}, {});",
            opt(workers),
            opt(stack_size)
        )
    } else {
        String::new()
    };
    let call: TokenStream = format!("{configure} ::oc_runtime::__private::block_on(move || BODY)")
        .parse()
        .map_err(|e| format!("internal error: {e:?}"))?;
    // Replace the BODY placeholder with the original block.
    let call: TokenStream = call
        .into_iter()
        .map(|t| match &t {
            TokenTree::Ident(i) if i.to_string() == "BODY" => TokenTree::Group(body.clone()),
            _ => t,
        })
        .collect();
    tokens.push(TokenTree::Group(Group::new(Delimiter::Brace, call)));
    Ok(tokens.into_iter().collect())
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
                return Err(format!(
                    "expected `{key} = VALUE` in #[oc_runtime::main(..)]"
                ));
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
                return Err(format!(
                    "unknown argument `{key}`; expected `workers` or `stack_size`"
                ));
            }
        }
    }
    let _ = (
        Punct::new(',', Spacing::Alone),
        Ident::new("x", Span::call_site()),
    );
    Ok((workers, stack_size))
}
