using System.Globalization;
using BuildFarm.Coordination.Redis;
using StackExchange.Redis;

namespace BuildFarm.Coordination.Scheduling;

/// <summary>
/// Image durations in Redis: one string per image key (<c>duration:{d}:image</c>, the mean in seconds) that expires
/// <see cref="ImageDurationOptions.Ttl"/> after its last sample. Every key shares the hash tag <c>{d}</c> (one cluster slot),
/// so a read is one MGET and a window of samples one script (per 1,000 images) that folds each image's samples into its
/// mean atomically (so concurrent windows of several workers all count): one round trip either way.
/// </summary>
public sealed class RedisImageDurations(IConnectionMultiplexer redis, RedisKeys keys, ImageDurationOptions options) : IImageDurations
{
    /// <summary>Images folded by one script call (a window with more is sent as several, pipelined).</summary>
    public const int ImagesPerScript = 1000;

    // KEYS the images' keys; ARGV[1] alpha, ARGV[2] TTL in ms, then per key: its number of samples, then the samples in order.
    private const string FoldScript = """
        local alpha = tonumber(ARGV[1])
        local a = 3
        for k = 1, #KEYS do
            local n = tonumber(ARGV[a])
            local mean = tonumber(redis.call('GET', KEYS[k]) or '')
            for i = a + 1, a + n do
                local x = tonumber(ARGV[i])
                if mean then mean = alpha * x + (1 - alpha) * mean else mean = x end
            end
            a = a + n + 1
            redis.call('SET', KEYS[k], string.format('%.17g', mean), 'PX', ARGV[2])
        end
        return #KEYS
        """;

    private RedisKey Key(string image) => $"{keys.Prefix}duration:{{d}}:{image}";

    public async Task<IReadOnlyDictionary<string, double>> ExpectedAsync(IReadOnlyCollection<string> images, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(images);
        ImageDurations.CheckCount(images.Count, nameof(images));
        cancellationToken.ThrowIfCancellationRequested();
        var distinct = images.Distinct(StringComparer.Ordinal).ToList();
        var values = distinct.Count == 0 ? [] : await redis.GetDatabase().StringGetAsync([.. distinct.Select(Key)]).ConfigureAwait(false);
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
        var writes = samples.GroupBy(s => s.Image, StringComparer.Ordinal).Chunk(ImagesPerScript).Select(images => batch.ScriptEvaluateAsync(FoldScript,
            [.. images.Select(image => Key(image.Key))],
            [
                alpha, ttl, .. images.SelectMany(image => image.Select(s => (RedisValue)ImageDurations.Clamp(s.Seconds).ToString("R", CultureInfo.InvariantCulture))
                    .Prepend(image.Count())),
            ])).ToList();
        batch.Execute();
        await Task.WhenAll(writes).ConfigureAwait(false);
    }
}
