//! `select!`: wait for the first of several channel operations, sends and receives alike.
//!
//! The macro turns each arm into an operation ([`RecvArm`](super::channel::RecvArm),
//! [`SendArm`](super::channel::SendArm)) and hands them to one driver (`wait.rs`), which
//! tries them from a random start (so that no ready arm is favoured), and otherwise
//! registers one waiter with every channel and suspends the coroutine until one of them
//! claims it.

/// Waits for the first of several channel operations to complete, and runs its arm.
///
/// Arms: `recv(receiver) -> result => body`, where `result` is the
/// `Result<T, RecvError>`, and `send(sender, value) -> result => body`, where `result` is
/// `Result<(), SendError<T>>` (an error gives the value back). An optional last arm is
/// either `timeout(duration) => body`, run if nothing completed in time, or `default =>
/// body`, run at once if nothing could complete without waiting. When several operations
/// are ready, each is equally likely to be picked. The messages of send arms that were not
/// picked are dropped. At most 16 operations.
///
/// Waiting suspends the coroutine (a plain thread blocks), and is a cancellation point.
///
/// ```
/// use std::time::Duration;
/// use oc_runtime::sync::channel;
///
/// let (tx1, rx1) = channel::unbounded::<u32>();
/// let (tx2, rx2) = channel::bounded::<&str>(1);
/// tx1.send(7).unwrap();
/// let got = oc_runtime::select! {
///     recv(rx1) -> msg => format!("number {}", msg.unwrap()),
///     recv(rx2) -> msg => format!("text {}", msg.unwrap()),
///     timeout(Duration::from_secs(1)) => "nothing".to_string(),
/// };
/// assert_eq!(got, "number 7");
///
/// // A send arm and a `default` arm: the bounded channel has room for one message.
/// for expected in [true, false] {
///     let sent = oc_runtime::select! {
///         send(tx2, "hello") -> res => res.is_ok(),
///         default => false,
///     };
///     assert_eq!(sent, expected);
/// }
/// assert_eq!(rx2.recv().unwrap(), "hello");
/// ```
#[macro_export]
macro_rules! select {
    ($($arms:tt)*) => {
        $crate::__select_munch!(
            @names[(__oc_arm0 0) (__oc_arm1 1) (__oc_arm2 2) (__oc_arm3 3) (__oc_arm4 4) (__oc_arm5 5)
                (__oc_arm6 6) (__oc_arm7 7) (__oc_arm8 8) (__oc_arm9 9) (__oc_arm10 10) (__oc_arm11 11)
                (__oc_arm12 12) (__oc_arm13 13) (__oc_arm14 14) (__oc_arm15 15)]
            @arms[]
            @tail[]
            $($arms)*
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_munch {
    // Separating commas.
    (@names[$($n:tt)*] @arms[$($a:tt)*] @tail[$($t:tt)*] , $($rest:tt)*) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)*] @tail[$($t)*] $($rest)*)
    };
    // recv(rx) -> res => { .. }
    (@names[($name:ident $i:tt) $($n:tt)*] @arms[$($a:tt)*] @tail[]
        recv($rx:expr) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)* ($name $i ($rx.__select_recv()) $res, $body)] @tail[] $($rest)*)
    };
    // recv(rx) -> res => expr,
    (@names[($name:ident $i:tt) $($n:tt)*] @arms[$($a:tt)*] @tail[]
        recv($rx:expr) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)* ($name $i ($rx.__select_recv()) $res, { $body })] @tail[] $($($rest)*)?)
    };
    // send(tx, value) -> res => { .. }
    (@names[($name:ident $i:tt) $($n:tt)*] @arms[$($a:tt)*] @tail[]
        send($tx:expr, $value:expr) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)* ($name $i ($tx.__select_send($value)) $res, $body)] @tail[] $($rest)*)
    };
    // send(tx, value) -> res => expr,
    (@names[($name:ident $i:tt) $($n:tt)*] @arms[$($a:tt)*] @tail[]
        send($tx:expr, $value:expr) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)* ($name $i ($tx.__select_send($value)) $res, { $body })] @tail[] $($($rest)*)?)
    };
    // timeout(d) => body
    (@names[$($n:tt)*] @arms[$($a:tt)*] @tail[] timeout($d:expr) => $body:block $(,)?) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)*] @tail[timeout ($d) $body])
    };
    (@names[$($n:tt)*] @arms[$($a:tt)*] @tail[] timeout($d:expr) => $body:expr $(,)?) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)*] @tail[timeout ($d) { $body }])
    };
    // default => body
    (@names[$($n:tt)*] @arms[$($a:tt)*] @tail[] default => $body:block $(,)?) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)*] @tail[default () $body])
    };
    (@names[$($n:tt)*] @arms[$($a:tt)*] @tail[] default => $body:expr $(,)?) => {
        $crate::__select_munch!(@names[$($n)*] @arms[$($a)*] @tail[default () { $body }])
    };
    // Every arm parsed: run them.
    (@names[$($n:tt)*] @arms[$(($name:ident $i:tt ($($arm:tt)*) $res:pat, $body:tt))*] @tail[$($t:tt)*]) => {{
        $( let mut $name = $($arm)*; )*
        let picked = $crate::sync::__select_arms(
            &mut [$(&mut $name as &mut dyn $crate::sync::__Arm),*],
            $crate::__select_deadline!($($t)*),
        );
        match picked {
            $( ::std::option::Option::Some($i) => {
                let $res = $name.take();
                $body
            } )*
            _ => $crate::__select_fallback!($($t)*),
        }
    }};
    // Anything else is a mistake in the arms.
    (@names[] $($rest:tt)*) => {
        ::std::compile_error!("select! takes at most 16 operations")
    };
    (@names[$($n:tt)*] @arms[$($a:tt)*] @tail[$($t:tt)*] $($rest:tt)+) => {
        ::std::compile_error!(
            "select!: expected `recv(rx) -> res => body`, `send(tx, value) -> res => body`, and optionally a last `timeout(duration) => body` or `default => body`"
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_deadline {
    () => {
        $crate::sync::__Deadline::Never
    };
    (timeout ($d:expr) $body:tt) => {
        $crate::sync::__Deadline::after($d)
    };
    (default () $body:tt) => {
        $crate::sync::__Deadline::Now
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_fallback {
    () => {
        ::std::unreachable!("select! without a time-out returned no operation")
    };
    (timeout ($d:expr) $body:tt) => {
        $body
    };
    (default () $body:tt) => {
        $body
    };
}
