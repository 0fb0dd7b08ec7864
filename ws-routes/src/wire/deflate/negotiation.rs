//! Agreeing on permessage-deflate's parameters in the handshake: what a side is willing to do
//! ([`DeflateConfig`]), the client's offer and the server's answer in
//! `Sec-WebSocket-Extensions`, and what both agreed ([`Negotiated`]). A server accepts
//! `server_max_window_bits=8` as the RFC asks; [`compression`](super::compression) says how
//! it compresses with it.

/// The extension's token in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";
/// What one side is willing to do: the permessage-deflate part of the server or client settings.
///
/// Window bits range over 8..=15 (values outside are clamped); see the module documentation for
/// what 8 means and for the memory each setting costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeflateConfig {
    /// Server: the largest window the server compresses with (it answers with at most this).
    /// Client: asked of the server when below 15. Compression ratio rises with it; memory of
    /// a shared (no takeover) context is per thread, of a kept one per connection.
    pub(crate) server_max_window_bits: u8,
    /// Server: the largest window asked of a client that offers `client_max_window_bits`.
    /// Client: the largest window the client compresses with; it offers the parameter without
    /// a value (as browsers do), so any window the server asks for is one it can keep to.
    pub(crate) client_max_window_bits: u8,
    /// Server: always answer `server_no_context_takeover` (compress each message on its own,
    /// with a shared compressor). Client: ask the server for it.
    pub(crate) server_no_context_takeover: bool,
    /// Server: always answer `client_no_context_takeover` (inflate each client message on its
    /// own, with a shared decompressor). Client: offer it.
    pub(crate) client_no_context_takeover: bool,
    /// The zlib compression level, 0 (store) to 9 (smallest output).
    pub(crate) level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (RSV1 is set per message).
    pub(crate) threshold: usize,
}

impl Default for DeflateConfig {
    /// Python `websockets`' server defaults where they cost nothing here (window bits 12 in
    /// both directions, zlib's default level 6), no context takeover in either direction
    /// (`websockets` keeps contexts: 60-70 KiB per connection with C zlib, 305 KiB with
    /// zlib-rs; see the module documentation), and the 1 KiB threshold of Node's `ws`: a
    /// shorter message compresses poorly on its own and resetting a shared compressor costs
    /// about as much as compressing 1 KiB.
    fn default() -> Self {
        DeflateConfig {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            level: 6,
            threshold: 1024,
        }
    }
}

/// The parameters agreed in one handshake (public only to the fuzz targets, through
/// `__private`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The largest window the server compresses with (15 when not limited).
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with (15 when not limited).
    pub client_max_window_bits: u8,
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
}

/// Why a client refuses the server's `Sec-WebSocket-Extensions` response: the client must then
/// fail the connection (RFC 7692 section 7.1; close code 1010 or a handshake error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeflateError {
    /// The server accepted an extension the client did not offer.
    #[error("the server accepted an extension that was not offered")]
    NotOffered,
    /// The server accepted permessage-deflate more than once.
    #[error("the server accepted permessage-deflate twice")]
    Duplicate,
    /// The response's parameters are malformed, unknown or repeated.
    #[error("invalid permessage-deflate parameters in the response")]
    InvalidParameters,
    /// The response's parameters go beyond the offer, or leave out one the offer requires.
    #[error("permessage-deflate parameters that do not match the offer")]
    Unacceptable,
}
/// Server side of the handshake: from every `Sec-WebSocket-Extensions` value the client sent,
/// takes the first permessage-deflate offer that is valid, and returns the parameters to use
/// and the response header value.
///
/// An invalid offer (unknown or repeated parameter, bad value, `server_max_window_bits`
/// without a value) is declined: the next offer is tried, and `None` means no compression,
/// never a failed handshake.
pub(crate) fn negotiate<'a>(
    offers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(Negotiated, String)> {
    offers
        .into_iter()
        .flat_map(|value| split_unquoted(value, b','))
        .filter_map(extension)
        .filter(|(name, _)| name.eq_ignore_ascii_case(NAME))
        .find_map(|(_, params)| Params::parse(params, true).ok())
        .map(|offer| accept(&offer, config))
}

/// Client side of the handshake: the `Sec-WebSocket-Extensions` value to offer.
pub(crate) fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(NAME);
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    let server_bits = clamp_bits(config.server_max_window_bits);
    if server_bits < 15 {
        offer.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    offer.push_str("; client_max_window_bits");
    offer
}

/// Client side of the handshake: checks the server's `Sec-WebSocket-Extensions` values against
/// the offer [`client_offer`] made from the same `config`. `Ok(None)` means the server
/// declined compression; an error means the client must fail the connection.
pub(crate) fn client_accept<'a>(
    response_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<Option<Negotiated>, DeflateError> {
    let offered_server_bits = clamp_bits(config.server_max_window_bits);
    let own_client_bits = clamp_bits(config.client_max_window_bits);
    let mut accepted = None;
    for (name, params) in response_values
        .into_iter()
        .flat_map(|value| split_unquoted(value, b','))
        .filter_map(extension)
    {
        if !name.eq_ignore_ascii_case(NAME) {
            return Err(DeflateError::NotOffered);
        }
        if accepted.is_some() {
            return Err(DeflateError::Duplicate);
        }
        let response =
            Params::parse(params, false).map_err(|Invalid| DeflateError::InvalidParameters)?;
        if config.server_no_context_takeover && !response.server_no_context_takeover {
            return Err(DeflateError::Unacceptable);
        }
        let server_max_window_bits = match response.server_max_window_bits {
            Some(bits) if bits <= offered_server_bits => bits,
            None if offered_server_bits == 15 => 15,
            _ => return Err(DeflateError::Unacceptable),
        };
        // The client compresses within its own limit and the server's, whichever is smaller.
        let client_max_window_bits = response
            .client_max_window_bits
            .flatten()
            .map_or(own_client_bits, |bits| bits.min(own_client_bits));
        accepted = Some(Negotiated {
            server_max_window_bits,
            client_max_window_bits,
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover
                || config.client_no_context_takeover,
        });
    }
    Ok(accepted)
}
/// Window bits as configured, within 8..=15.
fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(8, 15)
}
/// The server's answer to a valid offer under `config`, and the response header value.
fn accept(offer: &Params, config: &DeflateConfig) -> (Negotiated, String) {
    let server_cap = clamp_bits(config.server_max_window_bits);
    let client_cap = clamp_bits(config.client_max_window_bits);
    let server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    let client_no_context_takeover =
        offer.client_no_context_takeover || config.client_no_context_takeover;
    let server_max_window_bits = offer
        .server_max_window_bits
        .map_or(server_cap, |bits| bits.min(server_cap));
    // Without the parameter in the offer the server may not limit the client's window.
    let (client_max_window_bits, answer_client_bits) = match offer.client_max_window_bits {
        None => (15, false),
        Some(None) => (client_cap, client_cap < 15),
        Some(Some(bits)) => (bits.min(client_cap), true),
    };
    let mut response = String::from(NAME);
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if server_max_window_bits < 15 || offer.server_max_window_bits.is_some() {
        response.push_str(&format!(
            "; server_max_window_bits={server_max_window_bits}"
        ));
    }
    if answer_client_bits {
        response.push_str(&format!(
            "; client_max_window_bits={client_max_window_bits}"
        ));
    }
    let negotiated = Negotiated {
        server_max_window_bits,
        client_max_window_bits,
        server_no_context_takeover,
        client_no_context_takeover,
    };
    (negotiated, response)
}

/// The parameters of one permessage-deflate offer or response, as written.
#[derive(Debug, Default)]
struct Params {
    /// `server_no_context_takeover` was present.
    server_no_context_takeover: bool,
    /// `client_no_context_takeover` was present.
    client_no_context_takeover: bool,
    /// The value of `server_max_window_bits`, if present.
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits`: `Some(None)` when present without a value (in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

/// A list of parameters that is no valid permessage-deflate offer or response.
#[derive(Debug)]
struct Invalid;

impl Params {
    /// Parses the `;`-separated parameters of one extension; `in_offer` allows
    /// `client_max_window_bits` without a value.
    fn parse<'a>(params: impl Iterator<Item = &'a str>, in_offer: bool) -> Result<Self, Invalid> {
        let mut parsed = Params::default();
        for param in params {
            let (name, value) = match param.split_once('=') {
                Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
                None => (param.trim(), None),
            };
            match name.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" => {
                    set_flag(&mut parsed.server_no_context_takeover, value)?;
                }
                "client_no_context_takeover" => {
                    set_flag(&mut parsed.client_no_context_takeover, value)?;
                }
                "server_max_window_bits" if parsed.server_max_window_bits.is_none() => {
                    parsed.server_max_window_bits =
                        Some(value.and_then(window_bits).ok_or(Invalid)?);
                }
                "client_max_window_bits" if parsed.client_max_window_bits.is_none() => {
                    parsed.client_max_window_bits = Some(match value {
                        None if in_offer => None,
                        None => return Err(Invalid),
                        Some(value) => Some(window_bits(value).ok_or(Invalid)?),
                    });
                }
                _ => return Err(Invalid),
            }
        }
        Ok(parsed)
    }
}

/// Sets a flag parameter, which takes no value and appears at most once.
fn set_flag(flag: &mut bool, value: Option<&str>) -> Result<(), Invalid> {
    if *flag || value.is_some() {
        return Err(Invalid);
    }
    *flag = true;
    Ok(())
}

/// A window bits value: a decimal 8..=15 without leading zeros (RFC 7692 section 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    let canonical =
        !value.is_empty() && !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit());
    value
        .parse()
        .ok()
        .filter(|bits| canonical && (8..=15).contains(bits))
}

/// A parameter value without its surrounding quotes, if it is a quoted string; one with stray
/// quotes is left as it is, and so fails validation.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// One element of an extension list: its name and its parameters; `None` for an empty element.
fn extension(element: &str) -> Option<(&str, impl Iterator<Item = &str>)> {
    let mut parts = split_unquoted(element, b';');
    let name = parts.next()?.trim();
    (!name.is_empty()).then_some((name, parts))
}

/// Splits `s` at every `separator` outside a quoted string.
fn split_unquoted(s: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in s.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == separator && !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    /// `Sec-WebSocket-Extensions` values, and what they should give.
    type Case<'a, T> = (&'a [&'a str], T);

    /// An accepted offer: the response's parameters after the two no-takeover ones, and the
    /// agreed server and client window bits.
    type Accepted = (&'static str, u8, u8);

    #[test]
    fn default_config_and_threshold() {
        let config = DeflateConfig::default();
        assert_eq!(config.threshold, 1024);
        assert_eq!(
            client_offer(&config),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=12; client_max_window_bits"
        );
        let plain = DeflateConfig {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            ..config
        };
        assert_eq!(
            client_offer(&plain),
            "permessage-deflate; client_max_window_bits"
        );
    }
    #[test]
    fn server_negotiation() {
        let config = DeflateConfig::default();
        let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let cases: &[Case<Option<Accepted>>] = &[
            // Chromium, and Python websockets' client.
            (
                &["permessage-deflate; client_max_window_bits"],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=12",
                    12,
                    12,
                )),
            ),
            // Firefox: no client_max_window_bits, so the client's window stays 15.
            (
                &["permessage-deflate"],
                Some(("; server_max_window_bits=12", 12, 15)),
            ),
            (
                &["permessage-deflate; client_max_window_bits=\"10\""],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=10",
                    12,
                    10,
                )),
            ),
            (
                &["PerMessage-Deflate; Client_Max_Window_Bits=15"],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=12",
                    12,
                    12,
                )),
            ),
            (
                &["permessage-deflate; server_max_window_bits=8"],
                Some(("; server_max_window_bits=8", 8, 15)),
            ),
            (
                &["permessage-deflate; server_max_window_bits=10; server_no_context_takeover"],
                Some(("; server_max_window_bits=10", 10, 15)),
            ),
            // The first offer is invalid, the second is taken.
            (
                &[
                    "permessage-deflate; server_max_window_bits, permessage-deflate; client_max_window_bits=9",
                ],
                Some((
                    "; server_max_window_bits=12; client_max_window_bits=9",
                    12,
                    9,
                )),
            ),
            // Offers across several header values; other extensions are skipped.
            (
                &[
                    "x-webkit-deflate-frame",
                    "permessage-deflate; unknown=1",
                    "permessage-deflate",
                ],
                Some(("; server_max_window_bits=12", 12, 15)),
            ),
            (
                &["permessage-deflate; client_max_window_bits; client_max_window_bits"],
                None,
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                None,
            ),
            (&["permessage-deflate; server_no_context_takeover=1"], None),
            (&["permessage-deflate; foo"], None),
            (&["permessage-deflate; client_max_window_bits=16"], None),
            (&["permessage-deflate; client_max_window_bits=7"], None),
            (&["permessage-deflate; client_max_window_bits=09"], None),
            (
                &["permessage-deflate; server_max_window_bits=\"1,2\""],
                None,
            ),
            (&["permessage-deflate;"], None),
            (&["x-webkit-deflate-frame"], None),
            (&[""], None),
            (&[], None),
        ];
        for (offers, expected) in cases {
            let got = negotiate(offers.iter().copied(), &config);
            let expected = expected.map(|(params, server, client)| {
                let negotiated = Negotiated {
                    server_max_window_bits: server,
                    client_max_window_bits: client,
                    server_no_context_takeover: true,
                    client_no_context_takeover: true,
                };
                (negotiated, format!("{both}{params}"))
            });
            assert_eq!(got, expected, "{offers:?}");
        }
    }

    #[test]
    fn server_negotiation_with_context_takeover_allowed() {
        let config = DeflateConfig {
            server_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            ..DeflateConfig::default()
        };
        let cases: &[(&str, &str, Negotiated)] = &[
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=12",
                Negotiated {
                    server_max_window_bits: 15,
                    client_max_window_bits: 12,
                    server_no_context_takeover: false,
                    client_no_context_takeover: false,
                },
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
                Negotiated {
                    server_max_window_bits: 15,
                    client_max_window_bits: 15,
                    server_no_context_takeover: true,
                    client_no_context_takeover: false,
                },
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover",
                Negotiated {
                    server_max_window_bits: 15,
                    client_max_window_bits: 15,
                    server_no_context_takeover: false,
                    client_no_context_takeover: true,
                },
            ),
        ];
        for (offer, response, negotiated) in cases {
            assert_eq!(
                negotiate([*offer], &config),
                Some((*negotiated, response.to_string())),
                "{offer}"
            );
        }
    }

    #[test]
    fn client_accepts_valid_responses() {
        let config = DeflateConfig::default();
        let full = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let cases: &[Case<Option<(u8, u8)>>] = &[
            (&[], None),
            (&[""], None),
            (
                &[&format!("{full}; server_max_window_bits=12")],
                Some((12, 12)),
            ),
            (
                &[&format!(
                    "{full}; server_max_window_bits=9; client_max_window_bits=\"8\""
                )],
                Some((9, 8)),
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=10"],
                Some((10, 12)),
            ),
            // A larger window than the client's own limit: the client keeps to its limit.
            (
                &[&format!(
                    "{full}; server_max_window_bits=12; client_max_window_bits=15"
                )],
                Some((12, 12)),
            ),
        ];
        for (response, expected) in cases {
            let expected = expected.map(|(server, client)| Negotiated {
                server_max_window_bits: server,
                client_max_window_bits: client,
                server_no_context_takeover: true,
                client_no_context_takeover: true,
            });
            assert_eq!(
                client_accept(response.iter().copied(), &config),
                Ok(expected),
                "{response:?}"
            );
        }
        // What our server answers, our client accepts.
        let (negotiated, response) = negotiate([client_offer(&config).as_str()], &config).unwrap();
        assert_eq!(
            client_accept([response.as_str()], &config),
            Ok(Some(negotiated))
        );
    }

    #[test]
    fn client_rejects_invalid_responses() {
        use DeflateError::*;
        let config = DeflateConfig::default();
        let ok = "permessage-deflate; server_no_context_takeover; server_max_window_bits=12";
        let cases: &[Case<DeflateError>] = &[
            (&["x-webkit-deflate-frame"], NotOffered),
            (&[ok, "foo"], NotOffered),
            (&[&format!("{ok}, {ok}")], Duplicate),
            (&[ok, ok], Duplicate),
            (
                &[&format!("{ok}; client_max_window_bits")],
                InvalidParameters,
            ),
            (
                &[&format!("{ok}; client_max_window_bits=16")],
                InvalidParameters,
            ),
            (&[&format!("{ok}; unknown")], InvalidParameters),
            (
                &[&format!("{ok}; server_no_context_takeover")],
                InvalidParameters,
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=13"],
                Unacceptable,
            ),
            (
                &["permessage-deflate; server_no_context_takeover"],
                Unacceptable,
            ),
            (
                &["permessage-deflate; server_max_window_bits=12"],
                Unacceptable,
            ),
        ];
        for (response, expected) in cases {
            assert_eq!(
                client_accept(response.iter().copied(), &config),
                Err(*expected),
                "{response:?}"
            );
        }
    }
}
