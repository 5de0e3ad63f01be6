using System.Globalization;
using System.Text;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>
/// Renders one synthetic Kaniko build in each layout by the byte rules of kaniko-facts §7, so the same build can be
/// checked in every format. Times are seconds after <see cref="Start"/>; plain entries are RUN output.
/// </summary>
public static class SyntheticLog
{
    public static readonly DateTime Start = new(2024, 4, 17, 14, 0, 0, DateTimeKind.Utc);

    public enum Layout
    {
        ColorEscTimestamp,
        ColorEscElapsed,
        ColorRemnants,
        ColorStripped,
        Text,
        Json,
    }

    /// <summary>A Kaniko line (<paramref name="Level"/> non-null) or a plain line.</summary>
    public sealed record Entry(double Seconds, string? Level, string Text);

    public static Entry Info(double s, string message) => new(s, "info", message);

    public static Entry Warn(double s, string message) => new(s, "warning", message);

    public static Entry Plain(double s, string text) => new(s, null, text);

    /// <summary>Pull 0→2 s, extract 2→9 s (one reset retry), build 9→16 s, push 16→20 s (one reset retry).</summary>
    public static IReadOnlyList<Entry> StandardBuild { get; } =
    [
        Info(0, "Retrieving image manifest alpine:3.19"),
        Info(0, "Retrieving image alpine:3.19 from registry index.docker.io"),
        Info(2, "Built cross stage deps: map[]"),
        Info(2, "Retrieving image manifest alpine:3.19"),
        Info(2, "Returning cached image manifest"),
        Info(2, "Executing 0 build triggers"),
        Info(2, "Building stage 'alpine:3.19' [idx: '0', base-idx: '-1']"),
        Info(2, "Unpacking rootfs as cmd RUN apk add curl && echo \"done\" > /x requires it."),
        Warn(5, "Retrying operation after 1s due to read tcp 10.0.0.1:1234->10.0.0.2:443: read: connection reset by peer"),
        Info(9, "RUN apk add curl && echo \"done\" > /x"),
        Info(9, "Initializing snapshotter ..."),
        Info(9, "Taking snapshot of full filesystem..."),
        Info(9, "Cmd: /bin/sh"),
        Info(9, "Args: [-c apk add curl && echo \"done\" > /x]"),
        Info(9, "Running: [/bin/sh -c apk add curl && echo \"done\" > /x]"),
        Plain(10, "fetch https://dl-cdn.alpinelinux.org/alpine/v3.19/main/x86_64/APKINDEX.tar.gz"),
        Plain(12, "(1/5) Installing ca-certificates (20240226-r0)"),
        Plain(14, "curl: (56) Recv failure: Connection reset by peer"),
        Plain(14, "OK: 12 MiB in 20 packages"),
        Info(15, "Taking snapshot of full filesystem..."),
        Info(16, "Pushing image to registry.example.com/team/app:1.0"),
        Warn(17, "Retrying operation after 1s due to Patch \"https://registry.example.com/v2/team/app/blobs/uploads/x?a=1&b=2\": read: connection reset by peer"),
        Info(20, "Pushed registry.example.com/team/app@sha256:6ffb99d2f1eeef2b9575206798a35d2a448914523968fe650ab79e60c4647853"),
    ];

    public static string Render(IEnumerable<Entry> entries, Layout layout, bool kubernetesPrefix = false, double kubernetesOffset = 0)
    {
        var sb = new StringBuilder();
        foreach (var e in entries)
        {
            if (kubernetesPrefix)
            {
                sb.Append(Start.AddSeconds(e.Seconds + kubernetesOffset).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'", CultureInfo.InvariantCulture)).Append(' ');
            }

            sb.Append(e.Level is null ? e.Text : RenderKaniko(e, layout)).Append('\n');
        }

        return sb.ToString();
    }

    public static string RenderKaniko(Entry e, Layout layout)
    {
        var level = e.Level!;
        var time = Start.AddSeconds(Math.Floor(e.Seconds)).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var elapsed = ((int)e.Seconds).ToString("0000", CultureInfo.InvariantCulture);
        var short4 = level[..4].ToUpperInvariant();
        var colour = level == "warning" ? "33" : "36";
        var padded = e.Text.PadRight(44) + " ";
        return layout switch
        {
            Layout.ColorEscTimestamp => $"\u001b[{colour}m{short4}\u001b[0m[{time}] {padded}",
            Layout.ColorEscElapsed => $"\u001b[{colour}m{short4}\u001b[0m[{elapsed}] {padded}",
            Layout.ColorRemnants => $"[{colour}m{short4}[0m[{elapsed}] {padded}",
            Layout.ColorStripped => $"{short4}[{elapsed}] {padded}",
            Layout.Text => $"time=\"{time}\" level={level} msg={GoQuoteIfNeeded(e.Text)}",
            Layout.Json => $"{{\"level\":\"{level}\",\"msg\":\"{GoJsonEscape(e.Text)}\",\"time\":\"{time}\"}}",
            _ => throw new ArgumentOutOfRangeException(nameof(layout)),
        };
    }

    /// <summary>logrus text: %q when anything outside [A-Za-z0-9-._/@^+] appears.</summary>
    private static string GoQuoteIfNeeded(string s)
    {
        if (s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-._/@^+".Contains(c)))
        {
            return s;
        }

        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                _ => c.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }

    /// <summary>Go encoding/json: HTML-safe escapes for &lt; &gt; &amp;.</summary>
    private static string GoJsonEscape(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '&' => "\\u0026",
                '<' => "\\u003c",
                '>' => "\\u003e",
                _ => c.ToString(),
            });
        }

        return sb.ToString();
    }
}
