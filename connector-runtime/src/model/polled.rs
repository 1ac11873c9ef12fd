//! [`Polled`]: what a polling trigger fn returns.

/// What a polling trigger fn returns: the items found, each with its id, and where to go on from.
///
/// ```
/// # use connector_runtime::Polled;
/// # struct Issue { number: u64 }
/// # let issues = vec![Issue { number: 7 }, Issue { number: 9 }];
/// let last = issues.last().map(|issue| issue.number);
/// let polled: Polled<Issue, u64> = issues.into_iter().map(|issue| (issue.number.to_string(), issue)).collect();
/// let polled = polled.with_cursor(last);
/// assert_eq!(polled.items.len(), 2);
/// assert_eq!(polled.cursor, Some(9));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled<T, C> {
    /// The items, in the order their runs should start, each with an id that is stable across
    /// polls: an item seen before (same id) is skipped.
    pub items: Vec<(String, T)>,
    /// The cursor to pass to the next poll; `None` keeps the current one.
    pub cursor: Option<C>,
}

impl<T, C> Polled<T, C> {
    /// Nothing new; the cursor stays as it is.
    pub fn nothing() -> Self {
        Polled { items: Vec::new(), cursor: None }
    }

    /// `items`, each with the id `id` gives it; the cursor stays as it is until
    /// [`Polled::with_cursor`].
    pub fn from_items<I: ToString>(items: impl IntoIterator<Item = T>, id: impl Fn(&T) -> I) -> Self {
        items.into_iter().map(|item| (id(&item).to_string(), item)).collect()
    }

    /// Adds an item with its id.
    pub fn push(&mut self, id: impl Into<String>, item: T) {
        self.items.push((id.into(), item));
    }

    /// This, with the item `item` of id `id` added.
    pub fn item(mut self, id: impl Into<String>, item: T) -> Self {
        self.push(id, item);
        self
    }

    /// This, moving the cursor to `cursor` (`None` keeps the current one).
    pub fn with_cursor(mut self, cursor: impl Into<Option<C>>) -> Self {
        self.cursor = cursor.into();
        self
    }
}

impl<T, C> Default for Polled<T, C> {
    fn default() -> Self {
        Polled::nothing()
    }
}

impl<T, C> FromIterator<(String, T)> for Polled<T, C> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(items: I) -> Self {
        Polled { items: items.into_iter().collect(), cursor: None }
    }
}
