//! The domain's values read straight from their stored spelling: a column of a
//! row type can be a `Status` or a `DepartmentId`, and a value that does not
//! parse is an error that names it (which `StoreError` reports as `Corrupt`).

use sqlx::any::{AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, Type};

use crate::domain::{
    AutoKind, DecidedBy, DepartmentId, EventKind, Language, MailKind, MailboxName, OutboxState, Status, TicketRef,
};

macro_rules! read_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <String as Type<Any>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Any> for $ty {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                let stored = <String as Decode<'r, Any>>::decode(value)?;
                Ok(<$ty>::try_from(stored)?)
            }
        }
    )*};
}

read_as_text!(
    AutoKind,
    DecidedBy,
    DepartmentId,
    EventKind,
    Language,
    MailKind,
    MailboxName,
    OutboxState,
    Status,
    TicketRef
);

/// A stored value as the operator's listings show it: read as its type where
/// it parses, kept as stored where it does not, so that one row no loket wrote
/// does not hide the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<T> {
    Read(T),
    Unreadable(String),
}

impl<T> Stored<T> {
    /// The value, if it could be read.
    pub fn read(&self) -> Option<&T> {
        match self {
            Self::Read(value) => Some(value),
            Self::Unreadable(_) => None,
        }
    }
}

impl<T: PartialEq> PartialEq<T> for Stored<T> {
    fn eq(&self, other: &T) -> bool {
        self.read() == Some(other)
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Stored<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(value) => value.fmt(f),
            Self::Unreadable(stored) => f.pad(&format!("{stored}?")),
        }
    }
}

impl<T: serde::Serialize> serde::Serialize for Stored<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Read(value) => value.serialize(serializer),
            Self::Unreadable(stored) => serializer.serialize_str(stored),
        }
    }
}

impl<T> Type<Any> for Stored<T> {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r, T: TryFrom<String>> Decode<'r, Any> for Stored<T> {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let stored = <String as Decode<'r, Any>>::decode(value)?;
        Ok(match T::try_from(stored.clone()) {
            Ok(read) => Self::Read(read),
            Err(_) => Self::Unreadable(stored),
        })
    }
}
