//! Server mode's per-request crossing as a raw Node-API callback (see `fast.rs` for why raw).
//!
//! `serveRequest(name, traceHeader, host, method, path, encrypted, userAgent, remoteAddr,
//! forwardedFor) -> string | undefined` begins the segment of one incoming request and returns
//! the `X-Amzn-Trace-Id` to answer with (undefined: not traced). Its handle and whether it is
//! sampled are written into `serverSlots`, a `Uint32Array(2)` exported next to it: two
//! results from one crossing without making an object or array per request. `name` is an id
//! from `internName`, or the name as a string, or absent (the Host's name). The arguments
//! are read lazily (see `server::RequestSource`): an unsampled request never has its method,
//! path, user agent or addresses read.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::c_char;
use std::ptr;

use napi::bindgen_prelude::{Env, JsValue, Object};
use napi::sys;
use napi_derive::napi;

use crate::fast::{args, handle, read_into, ROOM};
use crate::server::{RequestDetails, RequestSource};

thread_local! {
    /// This thread's `serverSlots` memory ([handle, sampled]); null until registered.
    static SLOTS: Cell<*mut u32> = const { Cell::new(ptr::null_mut()) };
}

/// The request's arguments, each read into its own stack buffer on first use (a string too
/// long for it into its own heap slot) and remembered.
struct Args<'b> {
    env: sys::napi_env,
    values: [sys::napi_value; 4],
    bufs: [Option<&'b mut [u8; ROOM]>; 4],
    long: [Option<&'b mut Option<String>>; 4],
    read: [Option<Option<&'b str>>; 4],
}

impl<'b> Args<'b> {
    fn get(&mut self, i: usize) -> Option<&'b str> {
        if let Some(done) = self.read[i] {
            return done;
        }
        let value = match (self.bufs[i].take(), self.long[i].take()) {
            // SAFETY: the values belong to the running callback, which outlives `self`.
            (Some(buf), Some(long)) => match unsafe { read_into(self.env, self.values[i], buf) } {
                Some(Cow::Borrowed(s)) => Some(s),
                Some(Cow::Owned(s)) => long.insert(s).as_str().into(),
                None => None,
            },
            _ => None,
        };
        self.read[i] = Some(value);
        value
    }
}

impl<'b> RequestSource<'b> for Args<'b> {
    fn trace_header(&mut self) -> Option<&'b str> {
        self.get(0)
    }
    fn host(&mut self) -> Option<&'b str> {
        self.get(1)
    }
    fn method(&mut self) -> Option<&'b str> {
        self.get(2)
    }
    fn path(&mut self) -> Option<&'b str> {
        self.get(3)
    }
}

/// What a sampled request records besides its key, read only when asked for (an unsampled
/// request never reads it): whether the connection is encrypted, and the user agent, peer and
/// `X-Forwarded-For`, each read once into its own stack buffer (measuring a string first
/// costs a second pass over it).
///
/// # Safety
/// The values must belong to the running callback, and the closure be called before it returns.
unsafe fn details_reader<'b>(
    env: sys::napi_env,
    [encrypted, agent, remote, forwarded]: [sys::napi_value; 4],
    bufs: &'b mut [[u8; ROOM]; 3],
) -> impl FnOnce() -> RequestDetails<'b> {
    move || {
        let [agent_buf, remote_buf, forwarded_buf] = bufs;
        let mut secure = false;
        // SAFETY: as required of our caller; a non-boolean leaves `secure` false.
        unsafe {
            sys::napi_get_value_bool(env, encrypted, &mut secure);
            RequestDetails {
                scheme: Some(Cow::Borrowed(if secure { "https" } else { "http" })),
                user_agent: read_into(env, agent, agent_buf),
                remote_addr: read_into(env, remote, remote_buf),
                forwarded_for: read_into(env, forwarded, forwarded_buf),
            }
        }
    }
}

/// `serveRequest(...)`: see the module docs.
unsafe extern "C" fn serve_request(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info; every value read belongs to this call.
    let [name, header, host, method, path, encrypted, agent, remote, forwarded] =
        unsafe { args::<9>(env, info) };
    let mut bufs = [[0u8; ROOM]; 5];
    let mut long: [Option<String>; 4] = Default::default();
    let [b0, b1, b2, b3, b4] = &mut bufs;
    let [l0, l1, l2, l3] = &mut long;
    let mut detail_bufs = [[0u8; ROOM]; 3];
    let mut source = Args {
        env,
        values: [header, host, method, path],
        bufs: [Some(b1), Some(b2), Some(b3), Some(b4)],
        long: [Some(l0), Some(l1), Some(l2), Some(l3)],
        read: [None; 4],
    };
    // SAFETY: the closure is called (at most once) before this callback returns.
    let details =
        unsafe { details_reader(env, [encrypted, agent, remote, forwarded], &mut detail_bufs) };
    // An interned name id (0: not a number, or no id: the name as text, or none).
    // SAFETY: as above.
    let begun = match unsafe { handle(env, name) } {
        id @ 1.. => crate::names::with_name(id, |name| {
            crate::server::begin_request_answered(Some(name), &mut source, details)
        }),
        _ => {
            // SAFETY: as above.
            let name = unsafe { read_into(env, name, b0) };
            Some(crate::server::begin_request_answered(
                name.as_deref(),
                &mut source,
                details,
            ))
        }
    };
    let mut out = ptr::null_mut();
    match begun {
        Some(begun) if begun.handle != 0 => {
            let slots = SLOTS.with(Cell::get);
            if !slots.is_null() {
                // SAFETY: `slots` points at this thread's two-u32 block (see `register`),
                // never freed.
                unsafe {
                    *slots = begun.handle;
                    *slots.add(1) = u32::from(begun.sampled);
                }
            }
            // SAFETY: the answer is ASCII of the given length.
            unsafe {
                sys::napi_create_string_latin1(
                    env,
                    begun.answer.as_ptr() as *const c_char,
                    begun.answer_len as isize,
                    &mut out,
                )
            };
        }
        // SAFETY: a null result reads as undefined.
        _ => unsafe {
            sys::napi_get_undefined(env, &mut out);
        },
    }
    out
}

/// `installServerFast(target) -> bool`: adds `serveRequest` and `serverSlots` to `target`
/// (the addon's exports), once per JavaScript thread, on the first traced request. False
/// (nothing added) where an external ArrayBuffer is refused: the JavaScript layer then uses
/// `beginRequest` and `responseHeader`. Not in `binding.d.ts`: `lib/request.js` declares it.
#[napi(skip_typescript)]
pub fn install_server_fast(env: Env, target: Object) -> bool {
    let raw_env = env.raw();
    // Eight bytes per JavaScript thread, never freed: the pointer is kept for the thread's
    // life and the ArrayBuffer does not own it (detaching or collecting it frees nothing).
    let block: &'static mut [u32; 2] = Box::leak(Box::new([0u32; 2]));
    let data = block.as_mut_ptr();
    let mut buffer = ptr::null_mut();
    // SAFETY: `data` is valid for 8 bytes for the life of the process; no finalizer.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            raw_env,
            data as *mut std::ffi::c_void,
            8,
            None,
            ptr::null_mut(),
            &mut buffer,
        )
    };
    if status != sys::Status::napi_ok {
        return false;
    }
    let mut slots = ptr::null_mut();
    // SAFETY: `buffer` is the live ArrayBuffer made above, 8 bytes long.
    let status = unsafe {
        sys::napi_create_typedarray(
            raw_env,
            sys::TypedarrayType::uint32_array,
            2,
            buffer,
            0,
            &mut slots,
        )
    };
    if status != sys::Status::napi_ok {
        return false;
    }
    let mut function = ptr::null_mut();
    // SAFETY: the name is NUL-terminated; the callback has the Node-API callback signature.
    let status = unsafe {
        sys::napi_create_function(
            raw_env,
            c"serveRequest".as_ptr(),
            12,
            Some(serve_request),
            ptr::null_mut(),
            &mut function,
        )
    };
    if status != sys::Status::napi_ok {
        return false;
    }
    SLOTS.with(|s| s.set(data));
    // SAFETY: `target` is a live object of this call; the names are NUL-terminated.
    unsafe {
        sys::napi_set_named_property(raw_env, target.raw(), c"serverSlots".as_ptr(), slots)
            == sys::Status::napi_ok
            && sys::napi_set_named_property(
                raw_env,
                target.raw(),
                c"serveRequest".as_ptr(),
                function,
            ) == sys::Status::napi_ok
    }
}
