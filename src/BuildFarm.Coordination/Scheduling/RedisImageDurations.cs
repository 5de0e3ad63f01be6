using System.Globalization;
using BuildFarm.Coordination.Redis;
using StackExchange.Redis;

namespace BuildFarm.Coordination.Scheduling;

/// <summary>
/// Image durations in Redis: one string per image key (<c>duration:{image}</c>, the mean in seconds) that expires
/// <see cref="ImageDurationOptions.Ttl"/> after its last sample. A read is one pipelined batch of GETs (one round
/// trip whatever the number of images; each key in its own cluster slot); a window of samples is one pipelined batch of
/// scripts, one per image, each folding that image's samples into its mean atomically (so concurrent windows of several
/// workers all count).
/// </summary>
public sealed class RedisImageDurations(IConnectionMultiplexer redis, RedisKeys keys, ImageDurationOptions options) : IImageDurations
{
    // KEYS[1] the image's key; ARGV[1] alpha, ARGV[2] TTL in ms, ARGV[3..] the samples in order.
    private const string FoldScript = """
        local alpha = tonumber(ARGV[1])
        local mean = tonumber(redis.call('GET', KEYS[1]) or '')
        for i = 3, #ARGV do
            local x = tonumber(ARGV[i])
            if mean then mean = alpha * x + (1 - alpha) * mean else mean = x end
        end
        redis.call('SET', KEYS[1], string.format('%.17g', mean), 'PX', ARGV[2])
        return 1
        """;

    private string Key(string image) => $"{keys.Prefix}duration:{{{image}}}";

    public async Task<IReadOnlyDictionary<string, double>> ExpectedAsync(IReadOnlyCollection<string> images, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(images);
        ImageDurations.CheckCount(images.Count, nameof(images));
        cancellationToken.ThrowIfCancellationRequested();
        var distinct = images.Distinct(StringComparer.Ordinal).ToList();
        var batch = redis.GetDatabase().CreateBatch();
        var reads = distinct.Select(image => batch.StringGetAsync(Key(image))).ToList();
        batch.Execute();
        var values = await Task.WhenAll(reads).ConfigureAwait(false);
        var result = new Dictionary<string, double>(distinct.Count, StringComparer.Ordinal);
        for (var i = 0; i < distinct.Count; i++)
        {
            // A garbled value (not written by this class) counts as no history.
            result[distinct[i]] = double.TryParse(values[i].ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var mean) && double.IsFinite(mean)
                ? ImageDurations.Clamp(mean) : options.DefaultSeconds;
        }
        return result;
    }

    public async Task RecordAsync(IReadOnlyList<DurationSample> samples, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ImageDurations.CheckCount(samples.Count, nameof(samples));
        cancellationToken.ThrowIfCancellationRequested();
        if (samples.Count == 0)
        {
            return;
        }
        var alpha = options.Alpha.ToString("R", CultureInfo.InvariantCulture);
        var ttl = (long)options.Ttl.TotalMilliseconds;
        var batch = redis.GetDatabase().CreateBatch();
        var writes = samples.GroupBy(s => s.Image, StringComparer.Ordinal).Select(image => batch.ScriptEvaluateAsync(FoldScript, [Key(image.Key)],
        [
            alpha, ttl, .. image.Select(s => (RedisValue)ImageDurations.Clamp(s.Seconds).ToString("R", CultureInfo.InvariantCulture)),
        ])).ToList();
        batch.Execute();
        await Task.WhenAll(writes).ConfigureAwait(false);
    }
}
