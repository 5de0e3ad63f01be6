using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace BuildFarm.Cli.Progress;

/// <summary>
/// How builds are shown: the live table (a line per image), plain lines for output that is not a terminal, and the
/// summary table at the end. Pure: everything comes from the records and the clock value given.
/// </summary>
public static class ProgressView
{
    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    /// <summary>The live table: image, state, attempt, elapsed, resets and what is going on.</summary>
    public static Table Live(FollowedBuilds progress, DateTimeOffset now, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var table = new Table().Border(TableBorder.Rounded).BorderColor(Color.Grey);
        if (title is not null)
        {
            table.Title(new TableTitle(title));
        }
        table.AddColumn("image");
        table.AddColumn("state");
        table.AddColumn(new TableColumn("attempt").RightAligned());
        table.AddColumn(new TableColumn("elapsed").RightAligned());
        table.AddColumn(new TableColumn("resets").RightAligned());
        table.AddColumn("detail");
        var byId = progress.Builds.ToDictionary(b => b.BuildId, StringComparer.Ordinal);
        foreach (var id in progress.BuildIds)
        {
            var name = Markup.Escape(progress.NameOf(id));
            if (!byId.TryGetValue(id, out var r))
            {
                table.AddRow(new Markup(name), new Markup("[grey]unknown[/]"), Text.Empty, Text.Empty, Text.Empty, Text.Empty);
                continue;
            }
            table.AddRow(
                new Markup(name),
                new Markup(StateMarkup(r.State)),
                new Text(r.Attempts.Count == 0 ? "" : r.Attempts.Count.ToString(s_inv)),
                new Text(Elapsed(r, now) is { } e ? Seconds(e) : ""),
                new Text(r.Resets == 0 ? "" : r.Resets.ToString(s_inv)),
                new Markup(Markup.Escape(Detail(r, progress, now))));
        }
        table.Caption(new TableTitle(Markup.Escape(Counts(progress))));
        return table;
    }

    /// <summary>
    /// The summary at the end: per image attempts, pull/extract/push seconds, resets and outcome, then totals and the
    /// <paramref name="wall"/> time. Phase seconds are multiplied by <paramref name="phaseScale"/> (the simulator's time
    /// scale in the demo, 1 otherwise); <paramref name="secondsNote"/> says what they are, under the table.
    /// </summary>
    public static Table Summary(FollowedBuilds progress, TimeSpan wall, string? secondsNote = null, double phaseScale = 1)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var table = new Table().Border(TableBorder.Rounded).BorderColor(Color.Grey);
        table.AddColumn("image");
        table.AddColumn("outcome");
        table.AddColumn(new TableColumn("attempts").RightAligned());
        table.AddColumn(new TableColumn("pull s").RightAligned());
        table.AddColumn(new TableColumn("extract s").RightAligned());
        table.AddColumn(new TableColumn("push s").RightAligned());
        table.AddColumn(new TableColumn("resets").RightAligned());
        table.AddColumn("reason / digest");
        var rows = SummaryRows(progress, phaseScale);
        foreach (var row in rows)
        {
            table.AddRow(
                new Markup(Markup.Escape(row.Image)),
                new Markup(row.State is { } s ? StateMarkup(s) : "[grey]unknown[/]"),
                new Text(row.Attempts.ToString(s_inv)),
                new Text(Phase(row.Pull)),
                new Text(Phase(row.Extract)),
                new Text(Phase(row.Push)),
                new Text(row.Resets.ToString(s_inv)),
                new Text(row.Note));
        }
        var totals = Totals(rows);
        table.AddEmptyRow();
        table.AddRow(
            new Markup($"[bold]total ({rows.Count})[/]"),
            new Markup(Markup.Escape($"{totals.Succeeded} ok, {totals.Failed} failed, {totals.Cancelled} cancelled")),
            new Text(totals.Attempts.ToString(s_inv)),
            new Text(Phase(totals.Pull)),
            new Text(Phase(totals.Extract)),
            new Text(Phase(totals.Push)),
            new Text(totals.Resets.ToString(s_inv)),
            new Text($"wall {Seconds(wall)}"));
        if (secondsNote is not null)
        {
            table.Caption(new TableTitle(Markup.Escape(secondsNote)));
        }
        return table;
    }

    /// <summary>One line per change for output that is not a terminal (logs, pipes): no colour, no redraw.</summary>
    public static string Line(BuildRecord record, string name, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(record);
        var attempt = record.Attempts.Count == 0 ? "" : $" attempt {record.Attempts.Count}";
        var detail = PlainDetail(record);
        return $"{now.UtcDateTime.ToString("HH:mm:ss.fff", s_inv)} {name} {record.State.ToWire()}{attempt}{(detail.Length == 0 ? "" : " " + detail)}";
    }

    /// <summary>Per-image summary figures, phase seconds multiplied by <paramref name="phaseScale"/>.</summary>
    public static IReadOnlyList<SummaryRow> SummaryRows(FollowedBuilds progress, double phaseScale = 1)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var byId = progress.Builds.ToDictionary(b => b.BuildId, StringComparer.Ordinal);
        var rows = new List<SummaryRow>();
        foreach (var id in progress.BuildIds)
        {
            var name = progress.NameOf(id);
            if (!byId.TryGetValue(id, out var r))
            {
                rows.Add(new SummaryRow(name, id, null, 0, null, null, null, 0, null, null, ""));
                continue;
            }
            rows.Add(new SummaryRow(name, id, r.State, r.Attempts.Count, PhaseOf(r, "pull") * phaseScale, PhaseOf(r, "extract") * phaseScale,
                PhaseOf(r, "push") * phaseScale,
                r.Resets, r.Reason, r.Digest, PlainDetail(r)));
        }
        return rows;
    }

    public static SummaryTotals Totals(IReadOnlyList<SummaryRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return new SummaryTotals(
            rows.Count(r => r.State == BuildState.Succeeded),
            rows.Count(r => r.State == BuildState.Failed),
            rows.Count(r => r.State == BuildState.Cancelled),
            rows.Sum(r => r.Attempts),
            Sum(rows.Select(r => r.Pull)),
            Sum(rows.Select(r => r.Extract)),
            Sum(rows.Select(r => r.Push)),
            rows.Sum(r => r.Resets));
    }

    /// <summary>"12 builds: 8 succeeded, 1 running, …" (only the states present).</summary>
    public static string Counts(FollowedBuilds progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var parts = Enum.GetValues<BuildState>()
            .Select(s => (State: s, Count: progress.Count(s)))
            .Where(x => x.Count > 0)
            .Select(x => $"{x.Count} {x.State.ToWire()}");
        return $"{Plural.Of(progress.Total, "build")}: {string.Join(", ", parts)}";
    }

    public static string StateMarkup(BuildState state) => state switch
    {
        BuildState.Waiting => "[grey]waiting[/]",
        BuildState.Queued => "[silver]queued[/]",
        BuildState.Running => "[deepskyblue1]running[/]",
        BuildState.Retrying => "[yellow]retrying[/]",
        BuildState.Succeeded => "[green]succeeded[/]",
        BuildState.Failed => "[red]failed[/]",
        BuildState.Cancelled => "[grey]cancelled[/]",
        _ => Markup.Escape(state.ToString()),
    };

    private static string Detail(BuildRecord r, FollowedBuilds progress, DateTimeOffset now) => r.State switch
    {
        BuildState.Waiting when r.DependsOn.Count > 0 =>
            "after " + string.Join(", ", r.DependsOn.Select(progress.NameOf)),
        BuildState.Retrying when r.Attempts.Count > 0 && r.Attempts[^1] is { } last =>
            $"attempt {last.Attempt} {last.Reason}" + (last.RetryAt is { } at && at > now ? $", next in {Seconds(at - now)}" : ""),
        BuildState.Running when r.Attempts.Count > 0 && r.Attempts[^1].Pod is { } pod => pod,
        _ => PlainDetail(r),
    };

    private static string PlainDetail(BuildRecord r) => r.State switch
    {
        BuildState.Succeeded => r.DeduplicatedFrom is { } from ? $"same as {from}" + (r.Digest is { } d0 ? " " + ShortDigest(d0) : "")
            : r.Digest is { } d ? ShortDigest(d) : "",
        BuildState.Failed or BuildState.Cancelled => r.Reason ?? "",
        BuildState.Retrying when r.Attempts.Count > 0 => r.Attempts[^1].Reason ?? "",
        _ => "",
    };

    private static string ShortDigest(string digest) =>
        digest.StartsWith("sha256:", StringComparison.Ordinal) && digest.Length > 19 ? digest[..19] : digest;

    private static TimeSpan? Elapsed(BuildRecord r, DateTimeOffset now)
    {
        if (r.State is BuildState.Waiting or BuildState.Queued && r.StartedAt is null)
        {
            return null;
        }
        var from = r.StartedAt ?? r.SubmittedAt;
        var to = r.State.IsFinal() ? r.EndedAt ?? r.UpdatedAt : now;
        return to > from ? to - from : TimeSpan.Zero;
    }

    private static double? PhaseOf(BuildRecord r, string phase) =>
        r.PhaseSeconds.TryGetValue(phase, out var s) ? s : null;

    private static double? Sum(IEnumerable<double?> values)
    {
        var present = values.Where(v => v.HasValue).Select(v => v!.Value).ToList();
        return present.Count == 0 ? null : present.Sum();
    }

    private static string Phase(double? seconds) => seconds is { } s ? s.ToString("0.0", s_inv) : "-";

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", s_inv) + "s";

    /// <summary>A renderable that is the live table with a footer line (e.g. worker load).</summary>
    public static IRenderable WithFooter(Table table, string footer) =>
        new Rows(table, new Markup(Markup.Escape(footer)));
}

/// <summary>One image of the summary.</summary>
public sealed record SummaryRow(string Image, string BuildId, BuildState? State, int Attempts, double? Pull, double? Extract, double? Push,
    int Resets, string? Reason, string? Digest, string Note);

public sealed record SummaryTotals(int Succeeded, int Failed, int Cancelled, int Attempts, double? Pull, double? Extract, double? Push, int Resets);
