using Spectre.Console;
using Spectre.Console.Rendering;

namespace BuildFarm.Cli.Progress;

/// <summary>How progress is shown while following builds.</summary>
public enum ProgressMode
{
    /// <summary>A live table redrawn in place (a terminal).</summary>
    Live,

    /// <summary>A line per change (a pipe, a file, a CI log).</summary>
    Plain,

    /// <summary>Nothing while following (JSON output prints only the result).</summary>
    Quiet,
}

/// <summary>Follows builds through an event stream into a <see cref="FollowedBuilds"/> and shows them as they change.</summary>
public static class ProgressFollower
{
    /// <summary>
    /// Reads <paramref name="events"/> into <paramref name="progress"/> until the stream ends (every build final) and shows
    /// each change according to <paramref name="mode"/>. <paramref name="footer"/>, when given, adds a line under the live
    /// table (e.g. worker load). Cancelling <paramref name="cancellationToken"/> stops following (OperationCanceledException).
    /// </summary>
    public static async Task FollowAsync(FollowedBuilds progress, IAsyncEnumerable<BuildEvent> events, ProgressMode mode, IAnsiConsole console,
        TextWriter plain, string? title, Func<string>? footer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(plain);
        var writeLock = new SemaphoreSlim(1, 1);
        var pump = PumpAsync(progress, events, mode == ProgressMode.Plain ? plain : null, writeLock, cancellationToken);
        if (mode != ProgressMode.Live)
        {
            await pump.ConfigureAwait(false);
            return;
        }
        await console.Live(Render(progress, title, footer))
            .AutoClear(true)
            .Overflow(VerticalOverflow.Ellipsis)
            .StartAsync(async ctx =>
            {
                while (!pump.IsCompleted)
                {
                    ctx.UpdateTarget(Render(progress, title, footer));
                    ctx.Refresh();
                    try
                    {
                        await Task.WhenAny(pump, Task.Delay(TimeSpan.FromMilliseconds(150), cancellationToken)).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }).ConfigureAwait(false);
        await pump.ConfigureAwait(false);
    }

    private static IRenderable Render(FollowedBuilds progress, string? title, Func<string>? footer)
    {
        var table = ProgressView.Live(progress, DateTimeOffset.UtcNow, title);
        return footer is null ? table : ProgressView.WithFooter(table, footer());
    }

    private static async Task PumpAsync(FollowedBuilds progress, IAsyncEnumerable<BuildEvent> events, TextWriter? plain, SemaphoreSlim writeLock,
        CancellationToken cancellationToken)
    {
        await foreach (var e in events.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (e.Record is { } record && progress.Apply(record) && plain is not null)
            {
                await writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    await plain.WriteLineAsync(ProgressView.Line(record, progress.NameOf(record.BuildId), DateTimeOffset.UtcNow)).ConfigureAwait(false);
                    await plain.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    writeLock.Release();
                }
            }
            if (e.Event == BuildEvent.End || progress.AllFinal)
            {
                return;
            }
        }
    }
}
