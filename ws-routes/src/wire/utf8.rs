//! UTF-8 validation of a text message piece by piece, as its bytes arrive: invalid text fails
//! at the first byte that can no longer start or continue a character, not at the message's
//! end.

/// The state between pieces: the start of a character cut by the end of the last piece.
#[derive(Debug, Default)]
pub(crate) struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

/// The text is not UTF-8.
#[derive(Debug)]
pub(crate) struct InvalidUtf8;

impl Utf8Validator {
    /// Checks the next piece of the text.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let width = char_width(self.pending[0]);
            let take = (width - have).min(piece.len());
            self.pending[have..have + take].copy_from_slice(&piece[..take]);
            let have = have + take;
            piece = &piece[take..];
            match std::str::from_utf8(&self.pending[..have]) {
                Ok(_) => self.pending_len = 0,
                Err(error) if error.error_len().is_none() => {
                    self.pending_len = have as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        // Whole characters are checked at once (the fast check, which only says yes or no);
        // one cut by the piece's end waits for the rest.
        let (whole, cut) = piece.split_at(piece.len() - cut_short(piece));
        if simdutf8::basic::from_utf8(whole).is_err() {
            return Err(InvalidUtf8);
        }
        if cut.is_empty() {
            return Ok(());
        }
        match std::str::from_utf8(cut) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_none() => {
                self.pending[..cut.len()].copy_from_slice(cut);
                self.pending_len = cut.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Whether the text fed so far ends on a character boundary (a whole message must).
    pub(crate) fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

/// How many bytes at the end of `piece` start a character that they are too few for: at most
/// three, after its leading byte (0 when the last character is whole, or is not UTF-8 at all,
/// which the check of the whole characters then finds).
fn cut_short(piece: &[u8]) -> usize {
    let last = piece.len().saturating_sub(3)..piece.len();
    let Some(lead) = last.rev().find(|&at| piece[at] & 0xC0 != 0x80) else {
        return 0;
    };
    let have = piece.len() - lead;
    if piece[lead] >= 0xC0 && char_width(piece[lead]) > have {
        have
    } else {
        0
    }
}

/// The length of the character a leading byte starts (one that `from_utf8` left pending).
fn char_width(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piecewise(text: &[u8], size: usize) -> Result<bool, InvalidUtf8> {
        let mut validator = Utf8Validator::default();
        for piece in text.chunks(size) {
            validator.feed(piece)?;
        }
        Ok(validator.is_complete())
    }

    #[test]
    fn valid_text_passes_in_pieces_of_any_size() {
        let text = "κόσμε 𝄞 ascii é".as_bytes();
        for size in 1..=text.len() {
            assert!(piecewise(text, size).unwrap(), "pieces of {size}");
        }
    }

    #[test]
    fn invalid_text_fails_at_the_piece_that_breaks_it() {
        let mut validator = Utf8Validator::default();
        validator.feed(b"\xce\xba\xe1\xbd").unwrap();
        assert!(!validator.is_complete());
        assert!(
            validator
                .feed(b"\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")
                .is_err()
        );
        let mut validator = Utf8Validator::default();
        validator.feed(b"\xf4").unwrap();
        assert!(validator.feed(b"\x90").is_err());
    }

    #[test]
    fn a_piece_that_ends_in_what_cannot_start_a_character_fails_at_once() {
        for end in [&b"\xff"[..], b"\xc0", b"\xe0\x80", b"\xf4\x90", b"\xed\xa0"] {
            let piece = [&b"ascii "[..], end].concat();
            assert!(Utf8Validator::default().feed(&piece).is_err(), "{piece:x?}");
        }
    }

    #[test]
    fn a_cut_character_at_the_end_is_incomplete() {
        assert!(!piecewise("é".as_bytes().split_at(1).0, 1).unwrap());
    }
}
