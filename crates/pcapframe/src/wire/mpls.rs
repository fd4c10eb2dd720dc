//! MPLS label stack entries (RFC 3032).

use super::{be32, Field};

mod field {
    use super::Field;
    pub const ENTRY: Field = 0..4;
}

/// One 4-byte label stack entry.
#[derive(Debug, Clone, Copy)]
pub struct MplsLabel<'a> {
    bytes: &'a [u8],
}

impl<'a> MplsLabel<'a> {
    pub const LEN: usize = 4;

    pub fn new(bytes: &'a [u8]) -> Self {
        MplsLabel { bytes }
    }
    fn entry(&self) -> Option<u32> {
        be32(self.bytes, field::ENTRY)
    }
    /// The 20-bit label value.
    pub fn label(&self) -> Option<u32> {
        self.entry().map(|e| e >> 12)
    }
    /// Whether this is the last entry of the stack (the S bit).
    pub fn bottom_of_stack(&self) -> Option<bool> {
        self.entry().map(|e| e & 0x100 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Label 16, TC 0, bottom of stack, TTL 64.
    static ENTRY: [u8; 4] = [0x00, 0x01, 0x01, 0x40];

    #[test]
    fn label_and_bottom_of_stack() {
        let l = MplsLabel::new(&ENTRY);
        assert_eq!((l.label(), l.bottom_of_stack()), (Some(16), Some(true)));
        assert_eq!(MplsLabel::new(&ENTRY[..3]).label(), None);
    }
}
