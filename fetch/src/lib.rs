//! One HTTP exchange through the Workers runtime's own `fetch`.
//!
//! See the README for why. Only [`FetchError`] exists off wasm32; in a
//! worker, [`js_error_message`] also serves other code reading JS exceptions.

/// The runtime refused or failed the request (a network error, a refused
/// connection), or its body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fetch failed: {0}")]
pub struct FetchError(pub String);

#[cfg(target_arch = "wasm32")]
pub use wasm::{Answer, js_error_message, send};

#[cfg(target_arch = "wasm32")]
mod wasm {
    use js_sys::Uint8Array;
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::{JsCast as _, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{Headers, RequestInit};

    use super::FetchError;

    #[wasm_bindgen(inline_js = "export function fetch_whole(url, init) { \
        return fetch(url, init).then((r) => r.arrayBuffer() \
            .then((b) => [r.status, r.headers, new Uint8Array(b)])); }")]
    extern "C" {
        /// `fetch`, then the whole body: `[status, headers, Uint8Array]`.
        fn fetch_whole(url: &str, init: &RequestInit) -> js_sys::Promise;
    }

    /// A whole response: status, headers (read on demand), body.
    #[derive(Debug)]
    pub struct Answer {
        pub status: u16,
        pub body: Vec<u8>,
        headers: Headers,
    }

    impl Answer {
        /// A response header, by case-insensitive name.
        pub fn header(&self, name: &str) -> Option<String> {
            self.headers.get(name).ok().flatten()
        }
    }

    /// What a JS exception says: an `Error`'s message, a thrown string, or
    /// whatever the value prints as.
    pub fn js_error_message(err: &JsValue) -> String {
        err.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| err.as_string())
            .unwrap_or_else(|| format!("{err:?}"))
    }

    fn failed(err: JsValue) -> FetchError {
        FetchError(js_error_message(&err))
    }

    /// Sends one request and reads the whole response.
    pub async fn send<'a>(
        method: &str,
        url: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        body: Option<&[u8]>,
    ) -> Result<Answer, FetchError> {
        let init = RequestInit::new();
        init.set_method(method);
        let request_headers = Headers::new().map_err(failed)?;
        for (name, value) in headers {
            let value = std::str::from_utf8(value)
                .map_err(|_| FetchError(format!("header {name} is not UTF-8")))?;
            request_headers.append(name, value).map_err(failed)?;
        }
        init.set_headers(&request_headers);
        if let Some(body) = body {
            init.set_body(&Uint8Array::from(body));
        }
        // One promise for the whole exchange: each Rust `.await` on a JS
        // promise costs two closures and a microtask of glue.
        let whole: js_sys::Array = JsFuture::from(fetch_whole(url, &init))
            .await
            .map_err(failed)?
            .unchecked_into();
        let status = whole.get(0).as_f64().unwrap_or_default() as u16;
        let headers: Headers = whole.get(1).unchecked_into();
        let body: Uint8Array = whole.get(2).unchecked_into();
        Ok(Answer {
            status,
            body: body.to_vec(),
            headers,
        })
    }
}
