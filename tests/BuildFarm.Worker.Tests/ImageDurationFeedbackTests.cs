using BuildFarm.Coordination.Scheduling;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Worker.Scheduling;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Worker.Tests;

/// <summary>The worker's side of the expected image durations: what an attempt reports and the window exchange.</summary>
public sealed class ImageDurationFeedbackTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-12-05T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
    private readonly FakeTimeProvider _time = new(T0);
    private static readonly ImageDurationOptions Options = new() { DefaultSeconds = 60, Alpha = 0.5 };

    private ImageDurationFeedback Feedback(IImageDurations durations) =>
        new(durations, Microsoft.Extensions.Options.Options.Create(Options), _time, NullLogger<ImageDurationFeedback>.Instance);

    private static KanikoLogAnalysis Ran(double seconds) => new() { FirstTimestamp = T0, LastTimestamp = T0.AddSeconds(seconds) };

    /// <summary>Counts the exchanges; fails them while <see cref="Away"/>.</summary>
    private sealed class Counting(IImageDurations inner) : IImageDurations
    {
        public int Exchanges { get; private set; }
        public bool Away { get; set; }

        public Task<IReadOnlyDictionary<string, double>> ExpectedAsync(IReadOnlyCollection<string> images, CancellationToken cancellationToken) =>
            inner.ExpectedAsync(images, cancellationToken);

        public Task RecordAsync(IReadOnlyList<DurationSample> samples, CancellationToken cancellationToken)
        {
            Exchanges++;
            return Away ? Task.FromException(new InvalidOperationException("redis away")) : inner.RecordAsync(samples, cancellationToken);
        }
    }

    [Fact]
    public async Task SuccessfulAttempts_AreSentOncePerWindow_UnderTheFirstDestinationsRepository()
    {
        var store = new Counting(new InMemoryImageDurations(Options, _time));
        var feedback = Feedback(store);
        feedback.Report(["ghcr.io/team/app:1", "ghcr.io/team/app:latest"], Ran(100), succeeded: true);
        feedback.Report(["ghcr.io/team/app:2"], Ran(300), succeeded: true);
        feedback.Report(["ghcr.io/team/lib:2"], Ran(40), succeeded: true);
        Assert.Equal(0, store.Exchanges);

        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(1, store.Exchanges);
        var expected = await store.ExpectedAsync(["ghcr.io/team/app", "ghcr.io/team/lib"], CancellationToken.None);
        Assert.Equal(200, expected["ghcr.io/team/app"]);
        Assert.Equal(40, expected["ghcr.io/team/lib"]);

        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(1, store.Exchanges); // nothing new: no exchange
    }

    [Fact]
    public void FailedAttempts_AndLogsWithoutTimes_TeachNothing()
    {
        var feedback = Feedback(new InMemoryImageDurations(Options, _time));
        feedback.Report(["ghcr.io/a:1"], Ran(10), succeeded: false);
        feedback.Report(["ghcr.io/a:1"], new KanikoLogAnalysis(), succeeded: true);
        feedback.Report(["ghcr.io/a:1"], null, succeeded: true);
        feedback.Report([], Ran(10), succeeded: true);
        Assert.Equal(0, feedback.Pending);
    }

    [Fact]
    public async Task RedisAway_TheSamplesWaitForTheNextWindow_Bounded()
    {
        var store = new Counting(new InMemoryImageDurations(Options, _time)) { Away = true };
        var feedback = Feedback(store);
        feedback.Report(["ghcr.io/a:1"], Ran(10), succeeded: true);
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(1, feedback.Pending);

        store.Away = false;
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(0, feedback.Pending);
        Assert.Equal(10, (await store.ExpectedAsync(["ghcr.io/a"], CancellationToken.None))["ghcr.io/a"]);

        for (var i = 0; i < ImageDurationFeedback.MaxPending + 5; i++)
        {
            feedback.Report(["ghcr.io/a:1"], Ran(1), succeeded: true);
        }
        Assert.Equal(ImageDurationFeedback.MaxPending, feedback.Pending);
    }
}
