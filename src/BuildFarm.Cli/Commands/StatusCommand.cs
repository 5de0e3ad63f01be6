using System.CommandLine;
using System.Globalization;
using BuildFarm.Cli.Progress;
using Spectre.Console;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm status ID</c>: a build's or a batch's state.</summary>
public static class StatusCommand
{
    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    public static Command Create(CliIO io) => IdCommand.Create(io, "status",
        "Show a build (state, attempts with reasons, phase seconds, resets, digest) or a batch (per-image state).",
        "A build id or a batch id.", StatusAsync);

    private static Task<int> StatusAsync(IdRequest request)
    {
        var (client, key, json, _, io, cancellationToken) = request;
        return IdCommand.BuildOrBatchAsync(request, null,
            () => client.GetBuildAsync(key, cancellationToken),
            async build =>
            {
                await IdCommand.PrintAsync(io, json, build, async () =>
                {
                    CliConsole.Create(io).Write(BuildView(build));
                    await FailureLog.PrintAsync(client, build, io, cancellationToken);
                });
                return ExitCodes.Ok;
            },
            () => client.GetBatchAsync(key, cancellationToken),
            async batch =>
            {
                await IdCommand.PrintAsync(io, json, batch, async () =>
                {
                    var counts = string.Join(", ", batch.Counts.Where(c => c.Value > 0).Select(c => $"{c.Value} {c.Key}"));
                    await io.Out.WriteLineAsync($"batch {batch.BatchId}{TenantNote(batch.Tenant)}: {Plural.Of(batch.Total, "image")} ({counts}){(batch.Done ? batch.Succeeded ? ", all succeeded" : ", done" : "")}");
                    if (batch.RerunOf is { } original)
                    {
                        var reused = batch.Reused.Count == 0 ? "" : "; reused from it: " + string.Join(", ", batch.Reused.Select(r => $"{r.Name} {r.Digest}"));
                        await io.Out.WriteLineAsync($"a re-run of batch {original}{reused}");
                    }
                    CliConsole.Create(io).Write(BatchTable(batch));
                });
                return ExitCodes.Ok;
            });
    }

    /// <summary><c> (tenant T)</c>, or nothing for a record without a tenant.</summary>
    internal static string TenantNote(string? tenant) => tenant is null ? "" : $" (tenant {tenant})";

    /// <summary>A batch's images: name, build id, state, attempt, reason or digest.</summary>
    internal static Table BatchTable(BatchStatus batch)
    {
        var table = new Table().Border(TableBorder.Rounded).BorderColor(Color.Grey);
        table.AddColumn("image");
        table.AddColumn("build");
        table.AddColumn("state");
        table.AddColumn(new TableColumn("attempt").RightAligned());
        table.AddColumn("reason / digest");
        foreach (var i in batch.Images)
        {
            table.AddRow(
                new Text(i.Name),
                new Text(i.BuildId),
                new Markup(ProgressView.StateMarkup(i.State)),
                new Text(i.Attempt == 0 ? "" : i.Attempt.ToString(s_inv)),
                new Text(i.Reason ?? i.Digest ?? ""));
        }
        return table;
    }

    /// <summary>A build: its fields, then one line per attempt.</summary>
    internal static Rows BuildView(BuildRecord b)
    {
        var fields = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        void Field(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                fields.AddRow(new Text(name), new Text(value));
            }
        }
        Field("build", b.BuildId);
        Field("batch", b.BatchId);
        Field("image", b.Name);
        Field("tenant", b.Tenant);
        fields.AddRow(new Text("state"), new Markup(ProgressView.StateMarkup(b.State)));
        Field("reason", b.Reason);
        Field("detail", b.Detail);
        Field("destinations", string.Join(", ", b.Spec.Destinations));
        Field("digest", b.Digest);
        Field("pushed", string.Join(", ", b.Pushed));
        Field("deduplicated from", b.DeduplicatedFrom);
        Field("rerun of", b.RerunOf);
        Field("phases (s)", string.Join(", ", b.PhaseSeconds.Select(p => $"{p.Key} {p.Value.ToString("0.0", s_inv)}")));
        Field("resets", b.Resets == 0 ? null : b.Resets.ToString(s_inv));
        Field("submitted", b.SubmittedAt.ToString("u", s_inv));
        Field("started", b.StartedAt?.ToString("u", s_inv));
        Field("ended", b.EndedAt?.ToString("u", s_inv));
        if (b.Attempts.Count == 0)
        {
            return new Rows(fields);
        }
        var attempts = new Table().Border(TableBorder.Rounded).BorderColor(Color.Grey);
        attempts.AddColumn(new TableColumn("attempt").RightAligned());
        attempts.AddColumn("pod");
        attempts.AddColumn(new TableColumn("seconds").RightAligned());
        attempts.AddColumn("memory");
        attempts.AddColumn("reason");
        attempts.AddColumn("detail");
        foreach (var a in b.Attempts)
        {
            var seconds = a.StartedAt is { } s && a.EndedAt is { } e ? (e - s).TotalSeconds.ToString("0.0", s_inv) : "";
            attempts.AddRow(new Text(a.Attempt.ToString(s_inv)), new Text(a.Pod ?? ""), new Text(seconds), new Text(MemoryOf(a)),
                new Text(a.Reason ?? (a.EndedAt is null ? "running" : "ok")), new Text(a.Detail ?? ""));
        }
        return new Rows(fields, attempts);
    }

    /// <summary>An attempt's memory limit, marked when the farm doubled it after an OOM kill (docs/scheduling.md "Memory").</summary>
    internal static string MemoryOf(AttemptRecord attempt) =>
        attempt.MemoryLimit is null ? "" : attempt.MemoryRaised == true ? $"{attempt.MemoryLimit} (raised after OOM)" : attempt.MemoryLimit;
}
