namespace BuildFarm.Kaniko.Logs;

/// <summary>
/// Streaming analysis of one Kaniko log (docs/kaniko-log-analysis.md): feed it lines as they arrive with
/// <see cref="AnalyzeLine"/>, read the result with <see cref="Complete"/>. Memory is bounded whatever the log size:
/// no line is kept, the error text is capped at <see cref="MaxErrorChars"/>, a line is looked at up to
/// <see cref="MaxLineChars"/>. Uninteresting lines (RUN output, snapshot lines) cost a few span checks and no allocation.
/// The rules are documented in docs/kaniko-log-analysis.md. Not thread-safe: one analyzer per log.
/// </summary>
public sealed partial class KanikoLogAnalyzer
{
    /// <summary>Characters of the final error text kept (the error line plus continuation lines).</summary>
    public const int MaxErrorChars = 4096;

    /// <summary>Characters of one line that are looked at; the rest of a longer line is ignored.</summary>
    public const int MaxLineChars = 64 * 1024;

    /// <summary>Final pushes kept in <see cref="KanikoLogAnalysis.Pushed"/>.</summary>
    public const int MaxPushed = 64;

    private const int MaxMessageChars = 16 * 1024;
    private const int MaxPendingPushes = 16;
    private const int MaxOtherPushes = 8;
    private const int MaxCacheRefs = 32;
    private const string ResetByPeer = "connection reset by peer";

    // Timeline slots. Slot 0 is "no phase"; PullTentative holds time of a manifest lookup not yet known to be a
    // real retrieval (it may be answered from Kaniko's memo: "Returning cached image manifest").
    private const int SlotNone = 0;
    private const int SlotPull = 1;
    private const int SlotExtract = 2;
    private const int SlotBuild = 3;
    private const int SlotPush = 4;
    private const int SlotPullTentative = 5;
    private const int SlotCount = 6;

    private readonly KanikoLogAnalyzerOptions _options;
    private readonly ImageRefKey[] _destinations;
    private readonly bool[] _destinationPushed;
    private readonly long _elapsedBaseTicks;

    private readonly Timeline _kubernetes = new();
    private readonly Timeline _kaniko = new();

    // Decoded messages (text %q / json escapes); grows by doubling up to MaxMessageChars.
    private char[] _message = new char[256];
    private readonly char[] _error = new char[MaxErrorChars];
    private int _errorLength;

    private readonly int[] _counts = new int[SlotCount];
    private readonly int[] _resets = new int[SlotCount + 1]; // index SlotCount = preflight
    private readonly int[] _retries = new int[SlotCount];
    private readonly int[] _refusals = new int[SlotCount];

    private readonly PendingPush[] _pendingPushes = new PendingPush[MaxPendingPushes];
    private int _pendingPushCount;
    private readonly ulong[] _cacheRefs = new ulong[MaxCacheRefs];
    private int _cacheRefCount;
    private readonly ulong[] _cacheRepos = new ulong[MaxCacheRefs];
    private int _cacheRepoCount;
    private bool _cachePushOpen;

    private readonly List<PushedImage> _pushed = [];

    // With destinations given: pushes announced to other references that are not cache layers (at most MaxOtherPushes),
    // named when the outcome is incomplete so that a mistyped --destination is visible.
    private readonly List<string> _otherPushes = [];
    private int _finalPushes;
    private bool _allDestinationsPushed;

    // Final pushes not yet known to be final (docs/kaniko-log-analysis.md, "Which push is final"): a cache-layer push
    // to the destination's own repository reads like one, so build activity after them revokes them.
    private readonly ProvisionalPush[] _provisional = new ProvisionalPush[MaxPushed];
    private int _provisionalCount;
    // Push-phase time and count when the first provisional "Pushing image to" began: a revoked push was build work.
    private bool _provisionalTiming;
    private long _provisionalKubernetesPushTicks;
    private long _provisionalKanikoPushTicks;
    private int _provisionalPushCount;

    private KanikoLogFormat _format;
    private bool _sawKubernetesClock;
    private bool _sawRfc3339Clock;
    private bool _sawElapsedClock;
    // Kaniko lines above debug level: cobra's "Error: " comes from PersistentPreRunE, after at most debug lines.
    private long _kanikoInfoLines;

    private int _slot;
    private int _lastPhaseSlot;
    private int _slotBeforeTentative;
    private bool _inInstruction;
    private bool _tentativePull;
    private string? _baseRegistry;

    private int _cacheHits;
    private int _cacheMisses;

    private bool _hasFatal;

    // The current fatal came from logrus ERRO lines (Kaniko v0.1): a following ERRO line continues it.
    private bool _hasFatalFromError;
    private bool _continuationOpen;
    private bool _fatalHasReset;
    private int _fatalSlot;
    private int _fatalLastPhaseSlot;

    public KanikoLogAnalyzer(KanikoLogAnalyzerOptions? options = null)
    {
        _options = options ?? KanikoLogAnalyzerOptions.Default;
        _destinations = new ImageRefKey[_options.Destinations.Count];
        for (var i = 0; i < _destinations.Length; i++)
        {
            var destination = _options.Destinations[i];
            if (string.IsNullOrWhiteSpace(destination))
            {
                throw new ArgumentException($"destination {i} is empty", nameof(options));
            }

            _destinations[i] = ImageRefKey.Of(destination);
        }

        _destinationPushed = new bool[_destinations.Length];
        _elapsedBaseTicks = _options.ContainerStartedAt?.UtcTicks ?? 0;
    }

    /// <summary>Analyses one line (without its line break). Lines longer than <see cref="MaxLineChars"/> are cut.</summary>
    public void AnalyzeLine(ReadOnlySpan<char> line)
    {
        if (line.Length > MaxLineChars)
        {
            line = line[..MaxLineChars];
        }

        line = line.TrimEnd(" \t\r\n\f\v");
        if (KanikoLineParser.TryStripKubernetesTimestamp(ref line, out var kubernetesTicks))
        {
            _sawKubernetesClock = true;
            _kubernetes.Close(kubernetesTicks);
        }
        else
        {
            kubernetesTicks = -1;
        }

        var body = KanikoLineParser.StripCiPrefixes(line);
        var text = KanikoLineParser.StripBlanksAndMarkdown(body);

        if (text.Length > 0 && KanikoLineParser.TryParse(text, out var kanikoLine))
        {
            HandleKanikoLine(ref kanikoLine);
        }
        else if (text.Length > 0 && TryStartFatal(text, body))
        {
            // handled
        }
        else if (text.Length > 0 && KanikoLineParser.FindEmbeddedStart(text) is var embedded and > 0
                 && HandleEmbedded(text[embedded..]))
        {
            // a Kaniko part behind CI junk
        }
        else if (text.Length > 0 && char.IsAsciiDigit(text[0]) && TryHandleLegacyDigestLine(text))
        {
            // a v0.x push result
        }
        else
        {
            HandlePlain(body);
        }

        if (kubernetesTicks >= 0)
        {
            _kubernetes.PrevSlot = EffectiveSlot;
        }
    }

    private bool HandleEmbedded(ReadOnlySpan<char> text)
    {
        if (KanikoLineParser.TryParse(text, out var kanikoLine))
        {
            HandleKanikoLine(ref kanikoLine);
            return true;
        }

        return TryStartFatal(text, text);
    }

    private int EffectiveSlot => _hasFatal ? SlotNone : _slot;

    /// <summary>Whether the final push has finished (every destination pushed, or any final push without destinations).</summary>
    private bool SucceededSoFar => _allDestinationsPushed
        || (_destinations.Length > 0 ? Array.TrueForAll(_destinationPushed, p => p) : _finalPushes > 0);

    private void HandleKanikoLine(ref KanikoLine line)
    {
        if (_format == KanikoLogFormat.Unknown)
        {
            _format = line.Format;
        }

        var stamped = false;
        if (line.Clock == KanikoLineClock.Rfc3339)
        {
            _sawRfc3339Clock = true;
            _kaniko.Close(line.Ticks);
            stamped = true;
        }
        else if (line.Clock == KanikoLineClock.Elapsed)
        {
            _sawElapsedClock = true;
            _kaniko.Close(_elapsedBaseTicks + line.Ticks);
            stamped = true;
        }

        // A real fatal ends the executor: a Kaniko line after it means that "fatal" was RUN output.
        var errorRun = _hasFatalFromError && line.Level == KanikoLevel.Error;
        if (_hasFatal && !errorRun)
        {
            _hasFatal = false;
            _continuationOpen = false;
        }

        if (!errorRun)
        {
            _hasFatalFromError = false;
        }

        var message = line.Message;
        if (line.Escaped)
        {
            if (message.Length > _message.Length && _message.Length < MaxMessageChars)
            {
                _message = new char[Math.Min(Math.Max(message.Length, _message.Length * 2), MaxMessageChars)];
            }

            var written = KanikoLineParser.Unescape(message, _message);
            message = _message.AsSpan(0, written);
        }

        switch (line.Level)
        {
            case KanikoLevel.Trace or KanikoLevel.Debug:
                // Debug output carries time only: at trace level per-file lines would otherwise end phases.
                break;
            case KanikoLevel.Fatal or KanikoLevel.Panic:
                _kanikoInfoLines++;
                StartFatal(message, continuation: true);
                break;
            case KanikoLevel.Error when SucceededSoFar:
                // The image is already pushed: a later error line (a newer Kaniko's non-fatal report) is no failure.
                _kanikoInfoLines++;
                HandleMessage(message);
                break;
            case KanikoLevel.Error:
                // Kaniko up to v0.3 (2018) ended with logrus.Error(err) then os.Exit(1) (kaniko#187, #301): the
                // last ERRO line is the fatal error. Any later Kaniko line cancels it, as for FATA.
                _kanikoInfoLines++;
                if (_hasFatalFromError)
                {
                    // v0.1 printed a wrapped error as consecutive ERRO lines (kaniko#210): keep them together.
                    AppendError("\n");
                    AppendError(message);
                    _fatalHasReset |= message.Contains(ResetByPeer, StringComparison.OrdinalIgnoreCase);
                }
                else
                {
                    StartFatal(message, continuation: false);
                }

                _hasFatal = true;
                _hasFatalFromError = true;
                break;
            default:
                _kanikoInfoLines++;
                HandleMessage(message);
                break;
        }

        if (stamped)
        {
            _kaniko.PrevSlot = EffectiveSlot;
        }
    }

    private void HandleMessage(ReadOnlySpan<char> m)
    {
        if (m.StartsWith("Retrying operation after", StringComparison.OrdinalIgnoreCase))
        {
            if (_tentativePull)
            {
                ResolveTentative(confirmed: true);
            }

            HandleRetry(m);
            return;
        }

        var confirmedNow = false;
        if (_tentativePull)
        {
            var memo = m.StartsWith("Returning cached image manifest", StringComparison.OrdinalIgnoreCase);
            ResolveTentative(confirmed: !memo);
            if (memo)
            {
                return;
            }

            confirmedNow = true;
        }

        if (KanikoMessages.IsInstructionEcho(m))
        {
            Begin(SlotBuild);
            _inInstruction = true;
            return;
        }

        var kind = KanikoMessages.Classify(m, out var prefixLength);
        var rest = m[prefixLength..];
        switch (kind)
        {
            case KanikoMessageKind.Ignored:
                return;
            case KanikoMessageKind.RetrievingManifest:
                BuildGoesOn();
                _slotBeforeTentative = _slot;
                _tentativePull = true;
                SetSlot(SlotPullTentative);
                return;
            case KanikoMessageKind.RetrievingImage:
                _baseRegistry ??= KanikoMessages.RegistryOf(m);
                if (confirmedNow)
                {
                    SetSlot(SlotPull);
                }
                else
                {
                    Begin(SlotPull);
                }

                return;
            case KanikoMessageKind.BeginPull:
                Begin(SlotPull);
                return;
            case KanikoMessageKind.BeginExtract:
                Begin(SlotExtract);
                return;
            case KanikoMessageKind.BuildWork:
                BuildWork();
                return;
            case KanikoMessageKind.BuildWorkAfterPush:
                BuildWork(revokes: false);
                return;
            case KanikoMessageKind.StageSetup:
                StageSetup();
                return;
            case KanikoMessageKind.CacheHit:
                _cacheHits++;
                StageSetup();
                return;
            case KanikoMessageKind.CacheMiss:
                _cacheMisses++;
                StageSetup();
                return;
            case KanikoMessageKind.CheckingCachedLayer:
                RememberCacheRepository(ImageRefKey.Of(rest.TrimEnd('.')));
                StageSetup();
                return;
            case KanikoMessageKind.Executing when m.Contains("build triggers", StringComparison.OrdinalIgnoreCase):
                StageSetup();
                return;
            case KanikoMessageKind.CacheUploadError:
                _cachePushOpen = false;
                return;
            case KanikoMessageKind.AllDestinationsPushed:
                _allDestinationsPushed = true;
                EndPush();
                return;
            case KanikoMessageKind.PushingImage:
                HandlePushing(rest);
                return;
            case KanikoMessageKind.PushedReference:
                HandlePushed(rest);
                return;
            case KanikoMessageKind.PushingLayer:
                HandleCacheLayerAnnouncement(rest);
                return;
            case KanikoMessageKind.ImmutableTagIgnored:
                MarkDestination(ImageRefKey.Of(rest), byReference: true);
                _finalPushes++;
                EndPush();
                return;
            case KanikoMessageKind.SnapshotTimeout:
                StartFatal(m, continuation: false);
                return;
        }

        // Any other line ends pull (pull = retrieval up to the next line) and extract (up to the next
        // non-retry line; what follows extraction is build work), and leaves build and push as they are.
        if (_slot == SlotPull)
        {
            SetSlot(SlotNone);
        }
        else if (_slot == SlotExtract)
        {
            SetSlot(SlotBuild);
        }
    }
}
