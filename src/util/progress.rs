//! The one progress bar of the long jobs (restore, audit, `fsck --url`, a
//! monitor catching up, a batch `submit`): drawn on stderr when stderr is
//! a terminal, with the rate and the time left; nothing at all otherwise,
//! so logs, pipes and CI output stay clean.

/// A bar over `len` items called `unit` (`entries`, `events`), labelled
/// `label` (`restoring`, a log's origin): hidden unless stderr is a
/// terminal. Finish it with [`indicatif::ProgressBar::finish_and_clear`];
/// print around it with [`indicatif::ProgressBar::suspend`].
#[must_use]
pub fn bar(len: u64, unit: &str, label: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    // Cleared when dropped too: a job that fails half-way leaves no bar
    // above its error.
    let pb = indicatif::ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr())
        .with_finish(indicatif::ProgressFinish::AndClear);
    // `{` and `}` in the unit or label would be read as template keys.
    let clean = |s: &str| s.replace(['{', '}'], "");
    let template = format!(
        "{}[{{bar:40}}] {{pos}}/{{len}} {} ({{per_sec}}, eta {{eta}})",
        if label.is_empty() {
            String::new()
        } else {
            format!("{} ", clean(label))
        },
        clean(unit)
    );
    pb.set_style(
        indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Drawn at once: a short job shows its bar too, not only one that
    // outlasts the first redraw interval.
    pb.tick();
    pb
}

/// A spinner for a job whose length is not known in advance (`provlog
/// evidence` paging through a search): the count so far and the rate, on
/// the same terms as [`bar`] (stderr, only on a terminal, cleared when
/// done or dropped).
#[must_use]
pub fn spinner(unit: &str, label: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        .with_finish(indicatif::ProgressFinish::AndClear);
    let clean = |s: &str| s.replace(['{', '}'], "");
    let template = format!(
        "{{spinner}} {}{{pos}} {} ({{per_sec}})",
        if label.is_empty() {
            String::new()
        } else {
            format!("{}: ", clean(label))
        },
        clean(unit)
    );
    pb.set_style(
        indicatif::ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.tick();
    pb
}
