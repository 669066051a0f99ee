//! Interned subsegment names: a traced method's name is sent once, when it is decorated, and
//! each call then passes a small integer instead of a string.

use std::cell::RefCell;
use std::collections::HashMap;

use napi_derive::napi;

/// Most names one JavaScript thread may intern; beyond it `internName` returns 0 and callers
/// pass the name as a string.
const MAX_NAMES: usize = 1 << 16;

#[derive(Default)]
struct Names {
    list: Vec<String>,
    index: HashMap<String, u32>,
}

thread_local! {
    static NAMES: RefCell<Names> = RefCell::new(Names::default());
}

/// The id of `name` (the same id for the same text), or 0 when the table is full.
#[napi]
pub fn intern_name(name: String) -> u32 {
    NAMES.with(|n| {
        let mut n = n.borrow_mut();
        if let Some(&id) = n.index.get(&name) {
            return id;
        }
        if n.list.len() >= MAX_NAMES {
            return 0;
        }
        n.list.push(name.clone());
        let id = n.list.len() as u32;
        n.index.insert(name, id);
        id
    })
}

/// Runs `f` on the name with this id; None for 0 or an unknown id.
pub fn with_name<R>(id: u32, f: impl FnOnce(&str) -> R) -> Option<R> {
    NAMES.with(|n| {
        let n = n.borrow();
        let name = n.list.get((id as usize).checked_sub(1)?)?;
        Some(f(name))
    })
}

/// Runs `f` on an optional name (id 0: None) and a name; None if an id is unknown.
pub fn with_pair<R>(first: u32, second: u32, f: impl FnOnce(Option<&str>, &str) -> R) -> Option<R> {
    NAMES.with(|n| {
        let n = n.borrow();
        let first = match first {
            0 => None,
            id => Some(n.list.get(id as usize - 1)?.as_str()),
        };
        let second = n.list.get((second as usize).checked_sub(1)?)?;
        Some(f(first, second))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_gets_the_same_id() {
        let a = intern_name("### charge".into());
        let b = intern_name("### refund".into());
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!(intern_name("### charge".into()), a);
        assert_eq!(with_name(a, str::to_string).as_deref(), Some("### charge"));
        assert_eq!(with_name(0, str::to_string), None);
        assert_eq!(with_name(u32::MAX, str::to_string), None);
    }

    #[test]
    fn pairs_with_an_optional_first_name() {
        let ns = intern_name("payment".into());
        let key = intern_name("charge response".into());
        let both = with_pair(ns, key, |n, k| (n.map(str::to_string), k.to_string()));
        assert_eq!(
            both,
            Some((Some("payment".into()), "charge response".into()))
        );
        let default = with_pair(0, key, |n, k| (n.is_none(), k.to_string()));
        assert_eq!(default, Some((true, "charge response".into())));
        assert_eq!(with_pair(ns, 0, |_, _| ()), None);
        assert_eq!(with_pair(u32::MAX, key, |_, _| ()), None);
    }
}
