//! Names users type for an enum's values (models, start methods, the probes'
//! modes). strum's derives hold them — `IntoStaticStr` for the name, with
//! `#[strum(serialize_all = "kebab-case")]` or a variant's `#[strum(serialize =
//! "…")]`, and `VariantArray` for the list — and [`parse_name`] turns a bad one
//! into the one-line error every input error must be, listing the valid names.

use strum::VariantArray;

/// An enum whose values users name: see the module documentation.
pub trait Named: VariantArray + Copy + Into<&'static str> {
    /// The name users type and reports show.
    fn name(self) -> &'static str {
        self.into()
    }
}
impl<T: VariantArray + Copy + Into<&'static str>> Named for T {}

/// Every value's name, in declaration order.
pub fn names<T: Named>() -> Vec<&'static str> {
    T::VARIANTS.iter().map(|&v| v.into()).collect()
}

/// The value named `text`, or the error `unknown KIND `text` (known: a, b, c)`.
pub fn parse_name<T: Named>(text: &str, kind: &str) -> Result<T, String> {
    let text = text.trim();
    T::VARIANTS
        .iter()
        .copied()
        .find(|&v| v.into() == text)
        .ok_or_else(|| {
            format!(
                "unknown {kind} `{text}` (known: {})",
                names::<T>().join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
    #[strum(serialize_all = "kebab-case")]
    enum Colour {
        Red,
        SkyBlue,
        #[strum(serialize = "ultra-violet-3.9")]
        UltraViolet,
    }

    #[test]
    fn parses_and_lists_names() {
        assert_eq!(
            parse_name::<Colour>(" sky-blue ", "colour"),
            Ok(Colour::SkyBlue)
        );
        assert_eq!(
            parse_name::<Colour>("ultra-violet-3.9", "colour"),
            Ok(Colour::UltraViolet)
        );
        assert_eq!(<&str>::from(Colour::Red), "red");
        assert_eq!(
            parse_name::<Colour>("green", "colour").unwrap_err(),
            "unknown colour `green` (known: red, sky-blue, ultra-violet-3.9)"
        );
    }
}
