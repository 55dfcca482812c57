//! Maps a JSON pointer into a block-style YAML document to the 1-based line where the
//! pointed-to key (or sequence item) is written. A line scan, not a parser: it follows
//! indentation, understands `- ` items and `key:` entries (plain or quoted keys), and stops
//! at the deepest element it can find (e.g. inside a flow mapping `{ get_param: … }`).

/// One logical entry: a key or a `-` item, with its column.
struct Entry<'a> {
    line: u32,
    indent: usize,
    /// `-` for a sequence item, else the text from the key on.
    text: &'a str,
}

fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut indent = raw.len() - raw.trim_start_matches(' ').len();
        let mut rest = &raw[indent..];
        if rest.is_empty() || rest.starts_with('#') || rest.starts_with("---") {
            continue;
        }
        // `- - key: v` and `- key: v`: one entry per dash, then the key.
        while rest == "-" || rest.starts_with("- ") {
            out.push(Entry {
                line,
                indent,
                text: "-",
            });
            let after = &rest[1..];
            let skip = after.len() - after.trim_start_matches(' ').len();
            indent += 1 + skip;
            rest = &after[skip..];
        }
        if !rest.is_empty() && !rest.starts_with('#') {
            out.push(Entry {
                line,
                indent,
                text: rest,
            });
        }
    }
    out
}

fn key_matches(text: &str, key: &str) -> bool {
    for quoted in [format!("\"{key}\""), format!("'{key}'"), key.to_string()] {
        if let Some(rest) = text.strip_prefix(quoted.as_str()) {
            let rest = rest.trim_start_matches(' ');
            if rest == ":" || rest.starts_with(": ") {
                return true;
            }
        }
    }
    false
}

/// The line of the element at `pointer` (RFC 6901), or of its deepest ancestor found.
/// `None` when not even the first segment is found.
pub fn line_of_pointer(text: &str, pointer: &str) -> Option<u32> {
    let entries = entries(text);
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    // The current node: index of its entry (None = document root).
    let mut node: Option<usize> = None;
    let mut found = None;
    for seg in &segments {
        let (start, parent_indent, parent_is_key) = match node {
            None => (0, None, false),
            Some(i) => (
                i + 1,
                entries.get(i).map(|e| e.indent),
                entries.get(i).is_some_and(|e| e.text != "-"),
            ),
        };
        // Block of the node: entries deeper than the parent, or `-` items at the parent's
        // column directly under a key (compact sequences).
        let mut block_end = entries.len();
        for (j, e) in entries.iter().enumerate().skip(start) {
            if let Some(p) = parent_indent {
                let inside = e.indent > p || (parent_is_key && e.indent == p && e.text == "-");
                if !inside {
                    block_end = j;
                    break;
                }
            }
        }
        let Some(child_indent) = entries
            .get(start..block_end)
            .and_then(|b| b.first())
            .map(|e| e.indent)
        else {
            return found;
        };
        let children = (start..block_end)
            .filter(|&j| entries.get(j).is_some_and(|e| e.indent == child_indent));
        let next = if let Ok(index) = seg.parse::<usize>() {
            children
                .filter(|&j| entries.get(j).is_some_and(|e| e.text == "-"))
                .nth(index)
        } else {
            children
                .into_iter()
                .find(|&j| entries.get(j).is_some_and(|e| key_matches(e.text, seg)))
        };
        match next {
            Some(j) => {
                node = Some(j);
                found = entries.get(j).map(|e| e.line);
            }
            None => return found,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::line_of_pointer;

    const DOC: &str = "\
heat_template_version: 2013-05-23
parameters:
  nfv:
    type: json
resources:
  # a comment
  storage_server:
    type: OS::Nova::Server
    properties:
      flavor: { get_param: [ nfv, VDU, storage_server, flavor ] }
      block_device_mapping_v2:
      - device_name: vdb
        volume_id: { get_resource: storage_server_volume }
      networks:
        - port: { get_resource: storage_server_CP }
  \"quoted\":
    type: x
";

    #[test]
    fn finds_keys_items_and_deepest_ancestor() {
        assert_eq!(line_of_pointer(DOC, "/parameters/nfv/type"), Some(4));
        assert_eq!(line_of_pointer(DOC, "/resources/storage_server"), Some(7));
        assert_eq!(
            line_of_pointer(
                DOC,
                "/resources/storage_server/properties/flavor/get_param/2"
            ),
            Some(10)
        );
        assert_eq!(
            line_of_pointer(
                DOC,
                "/resources/storage_server/properties/block_device_mapping_v2/0/volume_id"
            ),
            Some(13)
        );
        assert_eq!(
            line_of_pointer(DOC, "/resources/storage_server/properties/networks/0/port"),
            Some(15)
        );
        assert_eq!(line_of_pointer(DOC, "/resources/quoted/type"), Some(17));
        assert_eq!(line_of_pointer(DOC, "/outputs"), None);
        assert_eq!(line_of_pointer(DOC, "/resources/missing"), Some(5));
    }

    #[test]
    fn survives_odd_input() {
        assert_eq!(line_of_pointer("", "/a"), None);
        assert_eq!(line_of_pointer("- - -\n-", "/0/0/0/0"), Some(1));
        assert_eq!(line_of_pointer("a:\n\t b: c", "/a/b"), Some(1));
    }
}
