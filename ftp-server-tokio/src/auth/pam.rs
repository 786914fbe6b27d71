//! System users through PAM (Linux-PAM): the operating system's accounts log in with their
//! system password.
//!
//! Owns [`PamUsers`], the [`Authenticator`] that runs `pam_start`, `pam_authenticate`,
//! `pam_acct_mgmt` and `pam_end` for each login on a blocking thread, and the small FFI to
//! `libpam.so.0` it needs (declared here by hand: no bindgen, no libclang, no `-dev` package;
//! the constants and the conversation's calling convention are Linux-PAM's, hence Linux only).
//! It never logs a password, and it overwrites its own copy of one when done.

// The FFI to libpam cannot be written without `unsafe`; the workspace denies it everywhere
// else. Every unsafe block below says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ftp_proto::VirtualPath;
use tokio::sync::Semaphore;

use super::{AnonymousPolicy, AuthError, Authenticator, Credentials, Permissions, Principal};

/// How long one PAM login (waiting for a slot included) may take before it answers 421. It
/// must exceed the stack's failure delay (pam_unix: about 2 s).
pub const DEFAULT_PAM_TIMEOUT: Duration = Duration::from_secs(10);

/// How many PAM logins may run at once by default. A failed login holds its blocking thread
/// for the stack's failure delay, so this bounds the threads a login flood can hold.
pub const DEFAULT_MAX_CONCURRENT_PAM_LOGINS: usize = 8;

/// Longest user name passed to PAM, in bytes (Linux allows 32; some directories more).
pub const MAX_PAM_USER_NAME: usize = 256;

/// Where Linux-PAM looks for a service's file, in order.
const PAM_DIRS: [&str; 2] = ["/etc/pam.d", "/usr/lib/pam.d"];

/// A PAM service name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PamServiceError {
    /// Empty, `.`/`..`, or with `/`, white space or control characters.
    #[error("invalid PAM service name {0:?}")]
    Invalid(String),
    /// No file for the service in /etc/pam.d or /usr/lib/pam.d (Linux-PAM would silently use
    /// the `other` service instead).
    #[error("PAM service {0:?} not found in /etc/pam.d or /usr/lib/pam.d")]
    NotFound(String),
}

/// The [`Authenticator`] for system users through PAM (Linux, feature `pam`).
///
/// Every password login runs, on tokio's blocking pool, `pam_start(service, user)`,
/// `pam_authenticate` and `pam_acct_mgmt` (both with `PAM_SILENT |
/// PAM_DISALLOW_NULL_AUTHTOK`, so an account without a password cannot log in), then
/// `pam_end`. `PAM_RHOST` is set to the client's address (for pam_access, logs). The
/// conversation answers every hidden prompt with the PASS argument and every visible prompt
/// with the user name; informational messages are ignored.
///
/// Outcomes:
/// - success: a [`Principal`] named after the login name (a name PAM maps to another account
///   is not followed), with home `home_base/NAME` (default `/NAME`, see
///   [`PamUsers::with_home_base`]) and [`PamUsers::with_permissions`] (default
///   [`Permissions::READ_ONLY`]: grant more explicitly);
/// - wrong password, unknown user, locked, expired or otherwise refused account (including a
///   password that must be changed, which FTP cannot do): [`AuthError::Rejected`] (530);
/// - a broken stack (`PAM_SYSTEM_ERR`, `PAM_ABORT`, `PAM_AUTHINFO_UNAVAIL` such as a directory
///   server that is down, a module that cannot load, ...), a service file that has disappeared
///   (Linux-PAM would fall back to `other`), or no answer within [`DEFAULT_PAM_TIMEOUT`]:
///   [`AuthError::Unavailable`] (421), with a `tracing` error naming the service and PAM's
///   message.
///
/// A user name that is not a plain system name (empty, too long, control characters, white
/// space, `/`, `.` or `..`) and a password containing NUL are rejected before PAM is asked.
///
/// Timing: this type does the same work for an unknown user as for a wrong password, but
/// whether both *take* the same time is up to the PAM stack. pam_unix (without `nodelay`)
/// delays every failure by about 2 s, which hides the difference; a stack that answers unknown
/// users faster lets clients enumerate accounts.
///
/// Privileges: pam_unix reads /etc/shadow, so the server must run as root (its helper
/// `unix_chkpwd` only checks the password of the calling user). Modules run in the server's
/// process; at most [`DEFAULT_MAX_CONCURRENT_PAM_LOGINS`] logins run at once (set 1 with
/// [`PamUsers::with_max_concurrent_logins`] for a module that is not thread-safe).
#[derive(Debug)]
pub struct PamUsers {
    service: CString,
    service_file: PathBuf,
    home_base: VirtualPath,
    permissions: Permissions,
    anonymous: Option<AnonymousPolicy>,
    timeout: Duration,
    workers: Arc<Semaphore>,
}

impl PamUsers {
    /// The authenticator for PAM service `service` (the file /etc/pam.d/`service`).
    ///
    /// # Errors
    ///
    /// [`PamServiceError`]: an invalid name, or no file for the service (Linux-PAM would use
    /// the `other` service instead, which is rarely what an FTP server wants).
    pub fn new(service: &str) -> Result<Self, PamServiceError> {
        if service.is_empty()
            || service == "."
            || service == ".."
            || service
                .chars()
                .any(|c| c == '/' || c.is_whitespace() || c.is_control())
        {
            return Err(PamServiceError::Invalid(service.to_owned()));
        }
        let service_file = PAM_DIRS
            .iter()
            .map(|dir| Path::new(dir).join(service))
            .find(|path| path.is_file())
            .ok_or_else(|| PamServiceError::NotFound(service.to_owned()))?;
        let c_service =
            CString::new(service).map_err(|_| PamServiceError::Invalid(service.to_owned()))?;
        Ok(Self {
            service: c_service,
            service_file,
            home_base: VirtualPath::root(),
            permissions: Permissions::READ_ONLY,
            anonymous: None,
            timeout: DEFAULT_PAM_TIMEOUT,
            workers: Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENT_PAM_LOGINS)),
        })
    }

    /// Homes are `base/NAME` (default: `/NAME`, each user confined to their own directory of
    /// the served tree, which should exist).
    #[must_use]
    pub fn with_home_base(mut self, base: VirtualPath) -> Self {
        self.home_base = base;
        self
    }

    /// What every PAM user may do under their home (default [`Permissions::READ_ONLY`]).
    #[must_use]
    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = permissions;
        self
    }

    /// Enables anonymous access with `policy` (anonymous logins never reach PAM).
    #[must_use]
    pub fn with_anonymous(mut self, policy: AnonymousPolicy) -> Self {
        self.anonymous = Some(policy);
        self
    }

    /// How long a login may take, waiting for a slot included, before it answers 421
    /// (default [`DEFAULT_PAM_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many PAM logins may run at once (default [`DEFAULT_MAX_CONCURRENT_PAM_LOGINS`];
    /// at least 1).
    #[must_use]
    pub fn with_max_concurrent_logins(mut self, n: usize) -> Self {
        self.workers = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// The PAM service name.
    pub fn service(&self) -> &str {
        // Built from a `&str` in `new`.
        self.service.to_str().unwrap_or_default()
    }

    /// The service's file found by [`PamUsers::new`].
    pub fn service_file(&self) -> &Path {
        &self.service_file
    }

    /// The home a successful login as `name` gets: `home_base/name`.
    pub fn home_of(&self, name: &str) -> Option<VirtualPath> {
        self.home_base.join(name).ok()
    }

    async fn check(&self, credentials: Credentials<'_>) -> Result<Principal, AuthError> {
        if credentials.anonymous {
            return match &self.anonymous {
                Some(policy) => Ok(policy.principal()),
                None => Err(AuthError::Rejected),
            };
        }
        let name = credentials.user;
        let home = match self.home_of(name) {
            Some(home) if plain_user_name(name) => home,
            _ => return Err(AuthError::Rejected),
        };
        let password = credentials.password.expose_secret();
        if password.contains(&0) {
            return Err(AuthError::Rejected);
        }
        let (Ok(user), Ok(rhost)) = (
            CString::new(name),
            CString::new(credentials.peer.ip().to_string()),
        ) else {
            return Err(AuthError::Rejected);
        };
        let request = Request {
            service: self.service.clone(),
            service_file: self.service_file.clone(),
            user,
            rhost,
            password: ZeroOnDrop::new(password),
        };
        let login = super::run_limited(&self.workers, "PAM login", move || request.run());
        let outcome = match tokio::time::timeout(self.timeout, login).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                tracing::error!(
                    service = self.service(),
                    timeout = ?self.timeout,
                    user = name,
                    "PAM did not answer in time; answering 421"
                );
                return Err(AuthError::Unavailable);
            }
        };
        match outcome {
            Outcome::Success => Ok(Principal::new(name, home, self.permissions)),
            Outcome::Refused {
                stage,
                code,
                message,
            } => {
                tracing::info!(
                    service = self.service(),
                    user = name,
                    peer = %credentials.peer.ip(),
                    stage,
                    code,
                    reason = %message,
                    "PAM refused the login"
                );
                Err(AuthError::Rejected)
            }
            Outcome::Broken {
                stage,
                code,
                message,
            } => {
                tracing::error!(
                    service = self.service(),
                    user = name,
                    stage,
                    code,
                    error = %message,
                    "PAM failed; answering 421"
                );
                Err(AuthError::Unavailable)
            }
        }
    }
}

impl Authenticator for PamUsers {
    fn authenticate(
        &self,
        credentials: Credentials<'_>,
    ) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        self.check(credentials)
    }
}

/// A system user name PAM may be asked about.
fn plain_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PAM_USER_NAME
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
}

/// A byte buffer overwritten with zeros when dropped (zeroize), NUL-terminated for C.
struct ZeroOnDrop(zeroize::Zeroizing<Vec<u8>>);

impl ZeroOnDrop {
    /// A copy of `bytes` (which contain no NUL) with a NUL appended.
    fn new(bytes: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(bytes.len() + 1);
        buf.extend_from_slice(bytes);
        buf.push(0);
        Self(zeroize::Zeroizing::new(buf))
    }

    fn as_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }
}

/// What one blocking PAM login needs (owned, so it can move to the blocking thread).
struct Request {
    service: CString,
    service_file: PathBuf,
    user: CString,
    rhost: CString,
    password: ZeroOnDrop,
}

/// How a PAM login ended.
#[derive(Debug)]
enum Outcome {
    Success,
    /// The account may not log in (530).
    Refused {
        stage: &'static str,
        code: c_int,
        message: String,
    },
    /// PAM could not answer (421).
    Broken {
        stage: &'static str,
        code: c_int,
        message: String,
    },
}

/// What the conversation answers with; lives on the blocking thread's stack from `pam_start`
/// to `pam_end`.
struct ConvData {
    user: *const c_char,
    password: *const c_char,
}

impl Request {
    /// One login through PAM: start, authenticate, account, end. Blocks.
    fn run(self) -> Outcome {
        if !self.service_file.is_file() {
            // Linux-PAM would quietly use the `other` service.
            return Outcome::Broken {
                stage: "pam_start",
                code: ffi::PAM_SYSTEM_ERR,
                message: format!("the service file {} is gone", self.service_file.display()),
            };
        }
        let data = ConvData {
            user: self.user.as_ptr(),
            password: self.password.as_ptr(),
        };
        let conv = ffi::PamConv {
            conv: Some(converse),
            appdata_ptr: (&raw const data).cast_mut().cast(),
        };
        let mut handle: *mut ffi::PamHandle = std::ptr::null_mut();
        // SAFETY: the service and user are NUL-terminated strings that outlive the call
        // (PAM copies them); `conv` is valid for the call (PAM copies the struct) and its
        // `appdata_ptr` points to `data`, which lives until after `pam_end` below; `handle`
        // is a valid out-pointer.
        let code = unsafe {
            ffi::pam_start(
                self.service.as_ptr(),
                self.user.as_ptr(),
                &conv,
                &mut handle,
            )
        };
        if code != ffi::PAM_SUCCESS || handle.is_null() {
            // Linux-PAM frees the handle itself when pam_start fails.
            return Outcome::Broken {
                stage: "pam_start",
                code,
                message: error_text(std::ptr::null_mut(), code),
            };
        }
        let outcome = self.with_handle(handle);
        let last = match &outcome {
            Outcome::Success => ffi::PAM_SUCCESS,
            Outcome::Refused { code, .. } | Outcome::Broken { code, .. } => *code,
        };
        // SAFETY: `handle` came from a successful pam_start and is ended exactly once; no
        // pointer PAM returned is used after this.
        unsafe { ffi::pam_end(handle, last) };
        // `data`, and the strings it points to in `self`, are dropped only now: after the
        // handle. The password copy is overwritten when `self` drops.
        outcome
    }

    fn with_handle(&self, handle: *mut ffi::PamHandle) -> Outcome {
        // SAFETY: `handle` is live (between pam_start and pam_end); PAM copies the string.
        let code = unsafe { ffi::pam_set_item(handle, ffi::PAM_RHOST, self.rhost.as_ptr().cast()) };
        if code != ffi::PAM_SUCCESS {
            return classify(handle, "pam_set_item", code);
        }
        let flags = ffi::PAM_SILENT | ffi::PAM_DISALLOW_NULL_AUTHTOK;
        // SAFETY: `handle` is live; the conversation's data outlives it (see `run`).
        let code = unsafe { ffi::pam_authenticate(handle, flags) };
        if code != ffi::PAM_SUCCESS {
            return classify(handle, "pam_authenticate", code);
        }
        // SAFETY: as above.
        let code = unsafe { ffi::pam_acct_mgmt(handle, flags) };
        if code != ffi::PAM_SUCCESS {
            return classify(handle, "pam_acct_mgmt", code);
        }
        Outcome::Success
    }
}

/// Sorts a PAM failure into a refusal (530) or a broken stack (421).
fn classify(handle: *mut ffi::PamHandle, stage: &'static str, code: c_int) -> Outcome {
    let message = error_text(handle, code);
    match code {
        ffi::PAM_PERM_DENIED
        | ffi::PAM_AUTH_ERR
        | ffi::PAM_CRED_INSUFFICIENT
        | ffi::PAM_USER_UNKNOWN
        | ffi::PAM_MAXTRIES
        | ffi::PAM_NEW_AUTHTOK_REQD
        | ffi::PAM_ACCT_EXPIRED
        | ffi::PAM_AUTHTOK_EXPIRED => Outcome::Refused {
            stage,
            code,
            message,
        },
        _ => Outcome::Broken {
            stage,
            code,
            message,
        },
    }
}

/// PAM's text for `code` (copied: it may belong to the handle).
fn error_text(handle: *mut ffi::PamHandle, code: c_int) -> String {
    if handle.is_null() {
        return format!("PAM error {code}");
    }
    // SAFETY: `handle` is live; pam_strerror returns a static (or handle-owned) string or
    // NULL, which is copied before the handle can end.
    let text = unsafe { ffi::pam_strerror(handle, code) };
    if text.is_null() {
        return format!("PAM error {code}");
    }
    // SAFETY: non-NULL, NUL-terminated, valid until pam_end (see above).
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// The conversation function PAM calls from inside pam_authenticate/pam_acct_mgmt.
///
/// Memory: the reply array is allocated with `calloc` and each answer with `strdup`; on
/// success PAM owns both and frees them with `free` (Linux-PAM's modules overwrite answers
/// before freeing). On failure this function frees what it allocated (overwriting answers)
/// and returns an error, leaving `*resp` untouched.
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const ffi::PamMessage,
    resp: *mut *mut ffi::PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    let Ok(count) = usize::try_from(num_msg) else {
        return ffi::PAM_CONV_ERR;
    };
    if count == 0 || count > ffi::PAM_MAX_NUM_MSG || msg.is_null() || resp.is_null() {
        return ffi::PAM_CONV_ERR;
    }
    if appdata_ptr.is_null() {
        return ffi::PAM_CONV_ERR;
    }
    // SAFETY: `appdata_ptr` is the `ConvData` set in `Request::run`, alive for the whole
    // handle's life, and only read here.
    let data = unsafe { &*appdata_ptr.cast::<ConvData>() };
    // SAFETY: calloc with a non-zero count and size; NULL is checked.
    let replies: *mut ffi::PamResponse =
        unsafe { libc::calloc(count, size_of::<ffi::PamResponse>()) }.cast();
    if replies.is_null() {
        return ffi::PAM_BUF_ERR;
    }
    for i in 0..count {
        // SAFETY: Linux-PAM passes an array of `num_msg` message pointers; `i < num_msg`.
        let message = unsafe { *msg.add(i) };
        if message.is_null() {
            // SAFETY: `replies` holds `count` zeroed or strdup'ed entries from here.
            unsafe { free_replies(replies, count) };
            return ffi::PAM_CONV_ERR;
        }
        // SAFETY: a non-NULL message from PAM, valid during the call.
        let style = unsafe { (*message).msg_style };
        let answer = match style {
            ffi::PAM_PROMPT_ECHO_OFF => data.password,
            ffi::PAM_PROMPT_ECHO_ON => data.user,
            ffi::PAM_ERROR_MSG | ffi::PAM_TEXT_INFO => continue,
            _ => {
                // SAFETY: as above.
                unsafe { free_replies(replies, count) };
                return ffi::PAM_CONV_ERR;
            }
        };
        // SAFETY: `answer` points to a NUL-terminated string owned by `Request`, alive
        // for the call.
        let copy = unsafe { libc::strdup(answer) };
        if copy.is_null() {
            // SAFETY: as above.
            unsafe { free_replies(replies, count) };
            return ffi::PAM_BUF_ERR;
        }
        // SAFETY: `i < count`, inside the calloc'ed array; the entry was zeroed.
        unsafe { (*replies.add(i)).resp = copy };
    }
    // SAFETY: `resp` is PAM's valid out-pointer; PAM now owns `replies` and frees it.
    unsafe { *resp = replies };
    ffi::PAM_SUCCESS
}

/// Overwrites and frees the answers in `replies`, then the array.
///
/// # Safety
///
/// `replies` comes from `calloc(count, ..)` in `converse`, each `resp` NULL or from `strdup`,
/// and nothing uses them afterwards.
unsafe fn free_replies(replies: *mut ffi::PamResponse, count: usize) {
    for i in 0..count {
        // SAFETY: `i < count`, inside the array (caller's contract).
        let answer = unsafe { (*replies.add(i)).resp };
        if !answer.is_null() {
            // SAFETY: a NUL-terminated string from strdup: overwrite its bytes, then free.
            unsafe {
                let len = libc::strlen(answer);
                libc::explicit_bzero(answer.cast(), len);
                libc::free(answer.cast());
            }
        }
    }
    // SAFETY: the calloc'ed array, freed once.
    unsafe { libc::free(replies.cast()) };
}

/// Linux-PAM's ABI: the few functions, types and constants of `<security/pam_appl.h>` used
/// here.
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    pub(super) const PAM_SUCCESS: c_int = 0;
    pub(super) const PAM_SYSTEM_ERR: c_int = 4;
    pub(super) const PAM_BUF_ERR: c_int = 5;
    pub(super) const PAM_PERM_DENIED: c_int = 6;
    pub(super) const PAM_AUTH_ERR: c_int = 7;
    pub(super) const PAM_CRED_INSUFFICIENT: c_int = 8;
    pub(super) const PAM_USER_UNKNOWN: c_int = 10;
    pub(super) const PAM_MAXTRIES: c_int = 11;
    pub(super) const PAM_NEW_AUTHTOK_REQD: c_int = 12;
    pub(super) const PAM_ACCT_EXPIRED: c_int = 13;
    pub(super) const PAM_CONV_ERR: c_int = 19;
    pub(super) const PAM_AUTHTOK_EXPIRED: c_int = 27;

    pub(super) const PAM_SILENT: c_int = 0x8000;
    pub(super) const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;

    pub(super) const PAM_RHOST: c_int = 4;

    pub(super) const PAM_PROMPT_ECHO_OFF: c_int = 1;
    pub(super) const PAM_PROMPT_ECHO_ON: c_int = 2;
    pub(super) const PAM_ERROR_MSG: c_int = 3;
    pub(super) const PAM_TEXT_INFO: c_int = 4;
    /// Linux-PAM never sends more messages at once.
    pub(super) const PAM_MAX_NUM_MSG: usize = 32;

    /// `pam_handle_t`, opaque.
    #[repr(C)]
    pub(super) struct PamHandle {
        _private: [u8; 0],
    }

    /// `struct pam_message`.
    #[repr(C)]
    pub(super) struct PamMessage {
        pub(super) msg_style: c_int,
        pub(super) msg: *const c_char,
    }

    /// `struct pam_response`.
    #[repr(C)]
    pub(super) struct PamResponse {
        pub(super) resp: *mut c_char,
        pub(super) resp_retcode: c_int,
    }

    /// The conversation function's type.
    pub(super) type ConvFn = unsafe extern "C" fn(
        num_msg: c_int,
        msg: *mut *const PamMessage,
        resp: *mut *mut PamResponse,
        appdata_ptr: *mut c_void,
    ) -> c_int;

    /// `struct pam_conv`.
    #[repr(C)]
    pub(super) struct PamConv {
        pub(super) conv: Option<ConvFn>,
        pub(super) appdata_ptr: *mut c_void,
    }

    // The runtime library itself (libpam0g), not the `libpam.so` link of the -dev package.
    #[link(name = "libpam.so.0", kind = "dylib", modifiers = "+verbatim")]
    unsafe extern "C" {
        pub(super) fn pam_start(
            service_name: *const c_char,
            user: *const c_char,
            pam_conversation: *const PamConv,
            pamh: *mut *mut PamHandle,
        ) -> c_int;
        pub(super) fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;
        pub(super) fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
        pub(super) fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
        pub(super) fn pam_set_item(
            pamh: *mut PamHandle,
            item_type: c_int,
            item: *const c_void,
        ) -> c_int;
        pub(super) fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_that_never_reach_pam() {
        for bad in [
            "", ".", "..", "a/b", "a b", "a\nb", "a\0b", "\u{7f}x", " root",
        ] {
            assert!(!plain_user_name(bad), "{bad:?}");
        }
        assert!(!plain_user_name(&"a".repeat(MAX_PAM_USER_NAME + 1)));
        for good in ["root", "ftprs", "alice.smith", "user-1", "Ünï"] {
            assert!(plain_user_name(good), "{good:?}");
        }
    }

    #[test]
    fn service_names() {
        for bad in ["", ".", "..", "../passwd", "a b", "a\0"] {
            assert!(
                matches!(PamUsers::new(bad), Err(PamServiceError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            PamUsers::new("ftp-rs-no-such-service"),
            Err(PamServiceError::NotFound(_))
        ));
    }

    #[test]
    fn the_password_copy_is_nul_terminated() {
        let copy = ZeroOnDrop::new(b"pw");
        assert_eq!(copy.0.as_slice(), b"pw\0");
    }
}
