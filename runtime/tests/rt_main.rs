//! `#[oc_runtime::main]` runs a function's body in a coroutine on the global runtime.

#[oc_runtime::main]
fn body_in_a_coroutine() -> (bool, u32) {
    let inner = oc_runtime::spawn(|| 41).join().unwrap();
    (oc_runtime::in_coroutine(), inner + 1)
}

#[oc_runtime::main]
fn with_early_return() -> Result<u8, String> {
    let v = oc_runtime::spawn(|| 7u8).join().map_err(|e| e.to_string())?;
    if v == 7 {
        return Ok(v);
    }
    Err("unreachable".into())
}

#[test]
fn main_attribute_runs_the_body_in_a_coroutine() {
    assert!(!oc_runtime::in_coroutine());
    assert_eq!(body_in_a_coroutine(), (true, 42));
}

#[test]
fn main_attribute_keeps_the_return_type_and_early_returns() {
    assert_eq!(with_early_return(), Ok(7));
}
