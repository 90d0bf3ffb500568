//! `std::task::Waker` for coroutines: waking one queues it on the runtime.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{Header, TaskRef};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that holds a reference to the task.
pub(crate) fn waker(header: &Header) -> Waker {
    let ptr = TaskRef::from_header(header).into_raw();
    // SAFETY: the data pointer carries one task reference, and every VTABLE function treats
    // it as exactly that.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr().cast_const().cast(), &VTABLE)) }
}

/// A waker for the task of `header` that owns no reference: never dropped (a drop would give
/// back a reference it does not hold); its clones each own one.
///
/// # Safety
///
/// The task must stay alive while the waker is in use (the caller holds a reference, or is
/// the task itself, running).
pub(crate) unsafe fn borrowed(header: &Header) -> ManuallyDrop<Waker> {
    let ptr: *const Header = header;
    // SAFETY: the data pointer names a live task (our caller's promise); the waker is never
    // dropped, so the reference its VTABLE functions would count is never given back, and
    // `clone` takes one of its own.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(ptr.cast(), &VTABLE)) })
}

fn header<'a>(data: *const ()) -> &'a Header {
    // SAFETY: `data` is a header pointer with a live reference owned by the waker.
    unsafe { &*data.cast::<Header>() }
}

fn clone(data: *const ()) -> RawWaker {
    let ptr = TaskRef::from_header(header(data)).into_raw();
    RawWaker::new(ptr.as_ptr().cast_const().cast(), &VTABLE)
}

fn wake(data: *const ()) {
    let ptr = NonNull::new(data.cast_mut().cast::<Header>()).expect("null waker data");
    // SAFETY: the waker owned one reference, which goes with the wake-up.
    unsafe { super::raw::wake_raw(ptr, true) };
}

fn wake_by_ref(data: *const ()) {
    header(data).wake();
}

fn drop_waker(data: *const ()) {
    let ptr = NonNull::new(data.cast_mut().cast::<Header>()).expect("null waker data");
    // SAFETY: the waker owned one reference, given up here.
    drop(unsafe { TaskRef::from_raw(ptr) });
}
