using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BuildFarm.Kaniko.Logs;

/// <summary>
/// Writes a <see cref="KanikoLogAnalysis"/> with exactly the keys of docs/kaniko-log-analysis.md, in that order.
/// </summary>
public static class KanikoLogAnalysisJson
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Error texts are shown to people: keep quotes, '<', '&' and '+' readable. Output is never embedded in HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    /// <summary>The analysis of <paramref name="file"/> as one line of JSON (no line break).</summary>
    public static string ToJsonLine(string file, KanikoLogAnalysis analysis)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            Write(writer, file, analysis);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static void Write(Utf8JsonWriter writer, string file, KanikoLogAnalysis analysis)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(analysis);

        writer.WriteStartObject();
        writer.WriteString("file", file);
        writer.WriteString("format", ToWire(analysis.Format));
        writer.WriteString("clock", ToWire(analysis.Clock));
        writer.WriteString("outcome", ToWire(analysis.Outcome));
        WriteNullableString(writer, "reason", analysis.Reason);
        writer.WriteBoolean("transient", analysis.Transient);
        WriteNullableString(writer, "failedPhase", analysis.FailedPhase?.ToWire());

        writer.WriteStartObject("phases");
        WritePhase(writer, "pull", analysis.Pull);
        WritePhase(writer, "extract", analysis.Extract);
        WritePhase(writer, "build", analysis.Build);
        WritePhase(writer, "push", analysis.Push);
        writer.WriteEndObject();

        writer.WriteStartObject("resets");
        foreach (var phase in (ReadOnlySpan<KanikoPhase>)[KanikoPhase.Preflight, KanikoPhase.Pull, KanikoPhase.Extract, KanikoPhase.Build, KanikoPhase.Push])
        {
            writer.WriteNumber(phase.ToWire(), analysis.ResetsIn(phase));
        }

        writer.WriteEndObject();

        writer.WriteStartObject("retries");
        foreach (var phase in (ReadOnlySpan<KanikoPhase>)[KanikoPhase.Pull, KanikoPhase.Extract, KanikoPhase.Push])
        {
            writer.WriteNumber(phase.ToWire(), analysis.RetriesIn(phase));
        }

        writer.WriteEndObject();

        writer.WriteStartObject("cache");
        writer.WriteNumber("hits", analysis.CacheHits);
        writer.WriteNumber("misses", analysis.CacheMisses);
        writer.WriteEndObject();

        writer.WriteStartArray("pushed");
        foreach (var pushed in analysis.Pushed)
        {
            writer.WriteStartObject();
            writer.WriteString("image", pushed.Image);
            writer.WriteString("digest", pushed.Digest);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteStartArray("notPushed");
        foreach (var destination in analysis.NotPushed)
        {
            writer.WriteStringValue(destination);
        }

        writer.WriteEndArray();
        WriteNullableString(writer, "error", analysis.Error);
        WriteNullableString(writer, "note", analysis.Note);
        writer.WriteEndObject();
    }

    public static string ToWire(KanikoLogFormat format) => format switch
    {
        KanikoLogFormat.Color => "color",
        KanikoLogFormat.Text => "text",
        KanikoLogFormat.Json => "json",
        _ => "unknown",
    };

    public static string ToWire(KanikoLogClock clock) => clock switch
    {
        KanikoLogClock.Kubernetes => "kubernetes",
        KanikoLogClock.Rfc3339 => "rfc3339",
        KanikoLogClock.Elapsed => "elapsed",
        _ => "none",
    };

    public static string ToWire(KanikoOutcome outcome) => outcome switch
    {
        KanikoOutcome.Succeeded => "succeeded",
        KanikoOutcome.Failed => "failed",
        _ => "incomplete",
    };

    private static void WritePhase(Utf8JsonWriter writer, string name, PhaseTiming timing)
    {
        writer.WriteStartObject(name);
        if (timing.Seconds is { } seconds)
        {
            writer.WriteNumber("seconds", Math.Round(seconds, 7));
        }
        else
        {
            writer.WriteNull("seconds");
        }

        writer.WriteNumber("count", timing.Count);
        writer.WriteEndObject();
    }

    private static void WriteNullableString(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}
