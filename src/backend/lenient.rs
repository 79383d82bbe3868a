//! Field readers for typed wire structs that accept what a lookup in a JSON tree would: a field of the
//! expected type is read, one of any other type reads as absent (and is skipped without being built), so
//! a typed, borrowing parse is exactly as forgiving as `value.get(..).and_then(Value::as_str)` was.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What a visitor answers for every JSON type it does not want: absent, after skipping it.
macro_rules! absent_otherwise {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
}

/// A string (borrowed when it has no escapes); anything else is absent.
pub fn text<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct Text<'a>(PhantomData<&'a str>);
    impl<'de: 'a, 'a> Visitor<'de> for Text<'a> {
        type Value = Option<Cow<'a, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        absent_otherwise!();
    }
    d.deserialize_any(Text(PhantomData))
}

/// A non-negative integer; anything else is absent.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        absent_otherwise!();
    }
    d.deserialize_any(Count)
}

/// An object read as `T` (whose own fields should be lenient too); anything else is absent.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    struct Object<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        absent_otherwise!();
    }
    d.deserialize_any(Object(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default, PartialEq)]
    struct Inner {
        #[serde(default, deserialize_with = "count")]
        n: Option<u64>,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Outer<'a> {
        #[serde(default, borrow, deserialize_with = "text")]
        s: Option<Cow<'a, str>>,
        #[serde(default, deserialize_with = "object")]
        inner: Option<Inner>,
    }

    fn read(json: &str) -> Outer<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn fields_of_the_expected_type_are_read_and_borrowed_when_they_can_be() {
        let o = read(r#"{"s": "plain", "inner": {"n": 7, "x": [1, {"y": 2}]}, "z": null}"#);
        assert!(matches!(o.s, Some(Cow::Borrowed("plain"))));
        assert_eq!(o.inner, Some(Inner { n: Some(7) }));
        let o = read(r#"{"s": "a\nb"}"#);
        assert_eq!(o.s.as_deref(), Some("a\nb"));
        assert_eq!(o.inner, None);
    }

    #[test]
    fn fields_of_another_type_read_as_absent() {
        for other in ["null", "true", "-3", "2.5", "[1, [2], {}]", r#"{"k": "v"}"#] {
            let json = format!(r#"{{"s": {other}, "inner": {other}}}"#);
            let o = read(&json);
            assert_eq!(o.s, None, "{other}");
            let expect_inner = other.starts_with('{').then(Inner::default);
            assert_eq!(o.inner, expect_inner, "{other}");
        }
        let o = read(r#"{"inner": {"n": "seven"}}"#);
        assert_eq!(o.inner, Some(Inner { n: None }));
        let o = read(r#"{"inner": {"n": -1}}"#);
        assert_eq!(o.inner, Some(Inner { n: None }));
    }
}
