use super::*;

fn feed_all(
    st: &mut HttpState,
    dir: Direction,
    data: &[u8],
    chunk: usize,
    ev: &mut Vec<AppEvent>,
) -> Counters {
    let mut c = Counters::default();
    for ch in data.chunks(chunk.max(1)) {
        st.feed(dir, Timestamp(0), ch, &Limits::default(), &mut c, ev);
    }
    c
}
