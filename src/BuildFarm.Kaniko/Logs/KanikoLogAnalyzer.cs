using BuildFarm.Contracts;

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

        if (IsInstructionEcho(m))
        {
            Begin(SlotBuild);
            _inInstruction = true;
            return;
        }

        switch (char.ToLowerInvariant(m.Length > 0 ? m[0] : ' '))
        {
            case 'r':
                if (m.StartsWith("Retrieving image manifest", StringComparison.OrdinalIgnoreCase))
                {
                    BuildGoesOn();
                    _slotBeforeTentative = _slot;
                    _tentativePull = true;
                    SetSlot(SlotPullTentative);
                    return;
                }

                if (m.StartsWith("Retrieving image ", StringComparison.OrdinalIgnoreCase))
                {
                    // "… from registry X", "… from registry mirror X", "… from mapped registry X".
                    _baseRegistry ??= RegistryOf(m);
                    if (confirmedNow)
                    {
                        SetSlot(SlotPull);
                    }
                    else
                    {
                        Begin(SlotPull);
                    }

                    return;
                }

                if (m.StartsWith("Returning cached image manifest", StringComparison.OrdinalIgnoreCase))
                {
                    return;
                }

                if (m.StartsWith("Running:", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                if (m.StartsWith("Resolved base name", StringComparison.OrdinalIgnoreCase))
                {
                    StageSetup();
                    return;
                }

                break;
            case 'd':
                if (m.StartsWith("Downloading base image", StringComparison.OrdinalIgnoreCase))
                {
                    Begin(SlotPull);
                    return;
                }

                if (m.StartsWith("Deleting filesystem", StringComparison.OrdinalIgnoreCase))
                {
                    // Between stages, and after the final push with --cleanup: no sign that the build goes on.
                    BuildWork(revokes: false);
                    return;
                }

                break;
            case 'u':
                if (m.StartsWith("Unpacking rootfs", StringComparison.OrdinalIgnoreCase))
                {
                    Begin(SlotExtract);
                    return;
                }

                if (m.StartsWith("Using caching version of cmd", StringComparison.OrdinalIgnoreCase))
                {
                    _cacheHits++;
                    StageSetup();
                    return;
                }

                if (m.StartsWith("Using dockerignore file", StringComparison.OrdinalIgnoreCase))
                {
                    StageSetup();
                    return;
                }

                if (m.StartsWith("Util.Lookup", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                break;
            case 's':
                if (m.StartsWith("Storing source image", StringComparison.OrdinalIgnoreCase))
                {
                    Begin(SlotExtract);
                    return;
                }

                if (m.StartsWith("Skipping push to container registry", StringComparison.OrdinalIgnoreCase))
                {
                    _allDestinationsPushed = true;
                    EndPush();
                    return;
                }

                if (m.StartsWith("Skipping unpacking", StringComparison.OrdinalIgnoreCase))
                {
                    StageSetup();
                    return;
                }

                if (m.StartsWith("Saving file", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                break;
            case 'f':
                if (m.StartsWith("Found cached layer, extracting", StringComparison.OrdinalIgnoreCase))
                {
                    Begin(SlotExtract);
                    return;
                }

                if (m.StartsWith("Failed to retrieve image", StringComparison.OrdinalIgnoreCase))
                {
                    return; // a registry-map fallback inside pull
                }

                break;
            case 'p':
                if (m.StartsWith("Pushing image to ", StringComparison.OrdinalIgnoreCase))
                {
                    HandlePushing(m["Pushing image to ".Length..]);
                    return;
                }

                if (m.StartsWith("Pushed image to ", StringComparison.OrdinalIgnoreCase)
                    || m.StartsWith("Pushed images to ", StringComparison.OrdinalIgnoreCase))
                {
                    // v1.4-v1.7: one line after every destination was written.
                    _allDestinationsPushed = true;
                    EndPush();
                    return;
                }

                if (m.StartsWith("Pushed ", StringComparison.OrdinalIgnoreCase))
                {
                    HandlePushed(m["Pushed ".Length..]);
                    return;
                }

                if (m.StartsWith("Pushing layer ", StringComparison.OrdinalIgnoreCase))
                {
                    HandleCacheLayerAnnouncement(m["Pushing layer ".Length..]);
                    return;
                }

                if (m.StartsWith("Performing slow lookup", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                break;
            case 'n':
                if (m.StartsWith("No cached layer found for cmd", StringComparison.OrdinalIgnoreCase))
                {
                    _cacheMisses++;
                    StageSetup();
                    return;
                }

                if (m.StartsWith("No base image", StringComparison.OrdinalIgnoreCase))
                {
                    StageSetup();
                    return;
                }

                if (m.StartsWith("No files", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                break;
            case 'c':
                if (m.StartsWith("Cache entry expired", StringComparison.OrdinalIgnoreCase))
                {
                    _cacheMisses++;
                    StageSetup();
                    return;
                }

                if (m.StartsWith("Checking for cached layer ", StringComparison.OrdinalIgnoreCase))
                {
                    var reference = m["Checking for cached layer ".Length..].TrimEnd('.');
                    RememberCacheRepository(ImageRefKey.Of(reference));
                    StageSetup();
                    return;
                }

                if (m.StartsWith("Cmd:", StringComparison.OrdinalIgnoreCase)
                    || m.StartsWith("Changed working directory", StringComparison.OrdinalIgnoreCase)
                    || m.StartsWith("Creating directory", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                break;
            case 'b':
                if (m.StartsWith("Built cross stage deps", StringComparison.OrdinalIgnoreCase)
                    || m.StartsWith("Building stage", StringComparison.OrdinalIgnoreCase)
                    || m.StartsWith("Base image from previous stage", StringComparison.OrdinalIgnoreCase))
                {
                    StageSetup();
                    return;
                }

                break;
            case 'e':
                if (m.StartsWith("Executing ", StringComparison.OrdinalIgnoreCase)
                    && m.Contains("build triggers", StringComparison.OrdinalIgnoreCase))
                {
                    StageSetup();
                    return;
                }

                if (m.StartsWith("Error uploading layer to cache", StringComparison.OrdinalIgnoreCase))
                {
                    _cachePushOpen = false;
                    return;
                }

                break;
            case 'a':
                if (m.StartsWith("Args:", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                break;
            case 'i':
                if (m.StartsWith("Initializing snapshotter", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                if (m.StartsWith("Immutable tag error ignored for ", StringComparison.OrdinalIgnoreCase))
                {
                    var key = ImageRefKey.Of(m["Immutable tag error ignored for ".Length..]);
                    MarkDestination(key, byReference: true);
                    _finalPushes++;
                    EndPush();
                    return;
                }

                break;
            case 't':
                if (m.StartsWith("Taking snapshot", StringComparison.OrdinalIgnoreCase))
                {
                    BuildWork();
                    return;
                }

                if (m.StartsWith("Timed out snapshotting FS", StringComparison.OrdinalIgnoreCase))
                {
                    StartFatal(m, continuation: false);
                    return;
                }

                break;
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

    /// <summary>A line that belongs to an instruction being executed (Cmd:, Running:, snapshots…).</summary>
    private void BuildWork(bool revokes = true)
    {
        if (revokes)
        {
            BuildGoesOn();
        }

        switch (_slot)
        {
            case SlotBuild or SlotPush:
                return;
            case SlotExtract:
                SetSlot(SlotBuild); // resuming the instruction whose layers were extracted
                return;
            case SlotNone or SlotPull or SlotPullTentative when _inInstruction:
                SetSlot(SlotBuild); // resuming after a pull inside the instruction (COPY --from=<image>)
                return;
            default:
                Begin(SlotBuild, revokes); // build work whose instruction echo the log does not show
                _inInstruction = true;
                return;
        }
    }

    /// <summary>Stage set-up lines (base names, cache lookups, triggers, "Building stage"): no phase.</summary>
    private void StageSetup()
    {
        BuildGoesOn();
        _inInstruction = false;
        SetSlot(SlotNone);
    }

    private void Begin(int slot, bool revokes = true)
    {
        if (revokes && slot != SlotPush)
        {
            BuildGoesOn();
        }

        _counts[slot]++;
        SetSlot(slot);
    }

    private void SetSlot(int slot)
    {
        _slot = slot;
        if (slot is SlotPull or SlotExtract or SlotBuild or SlotPush)
        {
            _lastPhaseSlot = slot;
        }
    }

    private void ResolveTentative(bool confirmed)
    {
        _tentativePull = false;
        var target = confirmed ? SlotPull : _slotBeforeTentative;
        _kubernetes.Resolve(target);
        _kaniko.Resolve(target);
        if (confirmed)
        {
            Begin(SlotPull);
        }
        else
        {
            SetSlot(_slotBeforeTentative);
        }
    }

    private void HandleRetry(ReadOnlySpan<char> m)
    {
        // The phase is the one of the last INFO line before the retry (kaniko-facts §5.1).
        var phase = _slot switch
        {
            SlotPull or SlotExtract or SlotPush => _slot,
            _ when _cachePushOpen => SlotPush, // a cache-layer push being retried
            SlotNone when _lastPhaseSlot is SlotPull or SlotExtract or SlotPush => _lastPhaseSlot,
            _ => -1,
        };

        if (phase >= 0)
        {
            _retries[phase]++;
        }

        if (m.Contains(ResetByPeer, StringComparison.OrdinalIgnoreCase))
        {
            _resets[phase >= 0 ? phase : ResetSlotNow()]++;
        }
    }

    /// <summary>Where a reset outside pull/extract/push goes: build, or preflight before any phase.</summary>
    private int ResetSlotNow() => _lastPhaseSlot == SlotNone ? SlotCount : SlotBuild;

    private void HandleCacheLayerAnnouncement(ReadOnlySpan<char> rest)
    {
        // "Pushing layer <cacheRepo>:<key> to cache now"
        var end = rest.IndexOf(' ');
        var reference = end < 0 ? rest : rest[..end];
        var key = ImageRefKey.Of(reference);
        RememberCacheRepository(key);
        if (_cacheRefCount == MaxCacheRefs)
        {
            Array.Copy(_cacheRefs, 1, _cacheRefs, 0, MaxCacheRefs - 1);
            _cacheRefCount--;
        }

        _cacheRefs[_cacheRefCount++] = key.Reference;
        _cachePushOpen = true;
        BuildWork();
    }

    private void RememberCacheRepository(ImageRefKey key)
    {
        if (Array.IndexOf(_cacheRepos, key.Repository, 0, _cacheRepoCount) >= 0)
        {
            return;
        }

        if (_cacheRepoCount < MaxCacheRefs)
        {
            _cacheRepos[_cacheRepoCount++] = key.Repository;
        }
    }

    private void HandlePushing(ReadOnlySpan<char> reference)
    {
        var key = ImageRefKey.Of(reference);
        var announcedCache = Array.IndexOf(_cacheRefs, key.Reference, 0, _cacheRefCount) >= 0;
        var destination = -1;
        bool final;
        if (_destinations.Length > 0)
        {
            for (var i = 0; i < _destinations.Length && destination < 0; i++)
            {
                destination = _destinations[i].Reference == key.Reference ? i : -1;
            }

            final = destination >= 0 && !announcedCache;
            if (destination < 0 && !announcedCache && _otherPushes.Count < MaxOtherPushes
                && !(Array.IndexOf(_cacheRepos, key.Repository, 0, _cacheRepoCount) >= 0 && key.TagIsCacheKey))
            {
                var text = reference.ToString();
                if (!_otherPushes.Contains(text, StringComparer.Ordinal))
                {
                    _otherPushes.Add(text);
                }
            }
        }
        else
        {
            var cacheRepo = Array.IndexOf(_cacheRepos, key.Repository, 0, _cacheRepoCount) >= 0;
            final = !announcedCache && !(cacheRepo && key.TagIsCacheKey);
        }

        if (_pendingPushCount == MaxPendingPushes)
        {
            Array.Copy(_pendingPushes, 1, _pendingPushes, 0, MaxPendingPushes - 1);
            _pendingPushCount--;
        }

        _pendingPushes[_pendingPushCount++] = new PendingPush(key.Repository, final, destination);
        if (final)
        {
            if (destination < 0 && !_provisionalTiming)
            {
                // Not a --destination: final only if the build ends here.
                _provisionalTiming = true;
                _provisionalKubernetesPushTicks = _kubernetes.Ticks[SlotPush];
                _provisionalKanikoPushTicks = _kaniko.Ticks[SlotPush];
                _provisionalPushCount = _counts[SlotPush];
            }

            Begin(SlotPush);
        }
        else
        {
            _cachePushOpen = true;
            BuildWork();
        }
    }

    private void HandlePushed(ReadOnlySpan<char> rest)
    {
        // "Pushed <repo>@sha256:<hex>" (v1.8+).
        var end = rest.IndexOf(' ');
        var reference = end < 0 ? rest : rest[..end];
        var at = reference.LastIndexOf('@');
        if (at <= 0)
        {
            return;
        }

        var repository = reference[..at];
        var digest = reference[(at + 1)..];
        var key = ImageRefKey.Of(repository);

        bool final;
        var destination = -1;
        var pending = -1;
        for (var i = 0; i < _pendingPushCount; i++)
        {
            if (_pendingPushes[i].Repository == key.Repository)
            {
                pending = i;
                break;
            }
        }

        if (pending >= 0)
        {
            final = _pendingPushes[pending].Final;
            destination = _pendingPushes[pending].Destination;
            Array.Copy(_pendingPushes, pending + 1, _pendingPushes, pending, _pendingPushCount - pending - 1);
            _pendingPushCount--;
        }
        else if (_destinations.Length > 0)
        {
            final = false;
            foreach (var d in _destinations)
            {
                final |= d.Repository == key.Repository;
            }
        }
        else
        {
            final = Array.IndexOf(_cacheRepos, key.Repository, 0, _cacheRepoCount) < 0;
        }

        if (!final)
        {
            _cachePushOpen = false;
            BuildGoesOn(); // a cache layer written: the build is not over
            return;
        }

        var marked = -1;
        if (destination >= 0)
        {
            _destinationPushed[destination] = true;
        }
        else
        {
            marked = MarkDestination(key, byReference: false);
        }

        _finalPushes++;
        var index = -1;
        if (_pushed.Count < MaxPushed)
        {
            index = _pushed.Count;
            _pushed.Add(new PushedImage(repository.ToString(), digest.ToString()));
        }

        if (destination >= 0)
        {
            // "Pushing image to <a --destination>": final for certain; older provisional pushes stay revocable,
            // but this push's time is not build time.
            _provisionalTiming = false;
        }
        else
        {
            AddProvisional(index, marked);
        }

        EndPush();
    }

    private void AddProvisional(int pushedIndex, int destination)
    {
        if (_provisionalCount == _provisional.Length)
        {
            Array.Copy(_provisional, 1, _provisional, 0, _provisional.Length - 1);
            _provisionalCount--;
        }

        _provisional[_provisionalCount++] = new ProvisionalPush(pushedIndex, destination);
    }

    /// <summary>
    /// Build activity (a manifest lookup, an extraction, a step, a snapshot, a cache push): a push that was only
    /// provisionally final was a cache-layer push to the destination's repository. It is taken back: no success
    /// from it, not listed, its time and count go from push to build.
    /// </summary>
    private void BuildGoesOn()
    {
        if (_provisionalCount == 0 && !_provisionalTiming)
        {
            return;
        }

        for (var i = _provisionalCount - 1; i >= 0; i--)
        {
            var revoked = _provisional[i];
            _finalPushes--;
            if (revoked.PushedIndex >= 0 && revoked.PushedIndex < _pushed.Count)
            {
                _pushed.RemoveAt(revoked.PushedIndex);
            }

            if (revoked.Destination >= 0)
            {
                _destinationPushed[revoked.Destination] = false;
            }
        }

        _provisionalCount = 0;
        if (_provisionalTiming)
        {
            _provisionalTiming = false;
            MoveToBuild(_kubernetes, _provisionalKubernetesPushTicks);
            MoveToBuild(_kaniko, _provisionalKanikoPushTicks);
            _counts[SlotPush] = _provisionalPushCount;
            if (_slot == SlotPush)
            {
                SetSlot(SlotBuild);
            }
        }

        static void MoveToBuild(Timeline timeline, long pushTicksBefore)
        {
            var moved = timeline.Ticks[SlotPush] - pushTicksBefore;
            timeline.Ticks[SlotPush] -= moved;
            timeline.Ticks[SlotBuild] += moved;
            if (pushTicksBefore == 0)
            {
                // The push phase never really began: its start goes with its time.
                timeline.Starts[SlotBuild] = Timeline.Earliest(timeline.Starts[SlotBuild], timeline.Starts[SlotPush]);
                timeline.Starts[SlotPush] = -1;
            }
        }
    }

    /// <summary>
    /// Kaniko ≤ v0.10 printed no push line of its own, but its go-containerregistry logged through Go's standard
    /// logger: <c>2018/11/08 11:01:21 reg/app:tag: digest: sha256:… size: 1234</c> after each image write.
    /// </summary>
    private bool TryHandleLegacyDigestLine(ReadOnlySpan<char> text)
    {
        const string Marker = ": digest: sha256:";
        if (text.Length < 20 + Marker.Length || text[4] != '/' || text[7] != '/' || text[10] != ' '
            || text[13] != ':' || text[16] != ':' || text[19] != ' ')
        {
            return false;
        }

        var rest = text[20..];
        var marker = rest.IndexOf(Marker, StringComparison.Ordinal);
        if (marker <= 0)
        {
            return false;
        }

        var reference = rest[..marker];
        var digestStart = marker + ": digest: ".Length;
        var digestEnd = rest[digestStart..].IndexOf(' ');
        var digest = digestEnd < 0 ? rest[digestStart..] : rest.Slice(digestStart, digestEnd);
        var key = ImageRefKey.Of(reference);
        bool final;
        if (_destinations.Length > 0)
        {
            final = false;
            foreach (var d in _destinations)
            {
                final |= d.Reference == key.Reference;
            }
        }
        else
        {
            final = !(key.TagIsCacheKey && Array.IndexOf(_cacheRepos, key.Repository, 0, _cacheRepoCount) >= 0);
        }

        if (!final)
        {
            return true;
        }

        MarkDestination(key, byReference: true);
        _finalPushes++;
        var slash = reference.LastIndexOf('/');
        var colon = reference.LastIndexOf(':');
        var repository = colon > slash ? reference[..colon] : reference;
        var index = -1;
        if (_pushed.Count < MaxPushed)
        {
            index = _pushed.Count;
            _pushed.Add(new PushedImage(repository.ToString(), digest.ToString()));
        }

        if (_destinations.Length == 0)
        {
            AddProvisional(index, -1); // without --destination, only the end of the build makes it final
        }

        EndPush();
        return true;
    }

    /// <summary>Marks the first destination not yet pushed that matches; its index, or -1.</summary>
    private int MarkDestination(ImageRefKey key, bool byReference)
    {
        for (var i = 0; i < _destinations.Length; i++)
        {
            var match = byReference ? _destinations[i].Reference == key.Reference : _destinations[i].Repository == key.Repository;
            if (match && !_destinationPushed[i])
            {
                _destinationPushed[i] = true;
                return i;
            }
        }

        return -1;
    }

    private void EndPush()
    {
        if (_slot == SlotPush)
        {
            SetSlot(SlotNone);
        }
    }

    /// <summary>The host after the last " registry " (or "registry mirror "), trimmed; null when absent.</summary>
    private static string? RegistryOf(ReadOnlySpan<char> m)
    {
        var at = m.LastIndexOf(" registry ", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return null;
        }
        var rest = m[(at + " registry ".Length)..].Trim();
        if (rest.StartsWith("mirror ", StringComparison.OrdinalIgnoreCase))
        {
            rest = rest["mirror ".Length..].Trim();
        }
        var end = rest.IndexOfAny(' ', '"');
        if (end >= 0)
        {
            rest = rest[..end];
        }
        return rest.IsEmpty ? null : rest.ToString().ToLowerInvariant();
    }

    private static bool IsInstructionEcho(ReadOnlySpan<char> m)
    {
        if (m.Length < 3 || !char.IsAsciiLetterUpper(m[0]))
        {
            return false;
        }

        var space = m.IndexOf(' ');
        var word = space < 0 ? m : m[..space];
        return word switch
        {
            "RUN" or "COPY" or "ADD" or "WORKDIR" or "ENV" or "ARG" or "LABEL" or "EXPOSE" or "USER" or "VOLUME"
                or "CMD" or "ENTRYPOINT" or "HEALTHCHECK" or "SHELL" or "STOPSIGNAL" or "ONBUILD" or "MAINTAINER" => true,
            _ => false,
        };
    }

    // ---- fatal lines --------------------------------------------------------------------------------

    /// <summary>Recognises the executor's final error line, which has no logrus prefix in any format.</summary>
    private bool TryStartFatal(ReadOnlySpan<char> text, ReadOnlySpan<char> body)
    {
        var isFatal = text[0] switch
        {
            'e' or 'E' => text.StartsWith("error building image", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error pushing image", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error checking push permissions", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error resolving relative paths to absolute paths", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error changing to root dir", StringComparison.OrdinalIgnoreCase)
                // cobra validation errors: printed before the executor logs anything above debug level
                // (PersistentPreRunE logs "Getting source context" at debug, kaniko#727), never indented.
                || (_kanikoInfoLines == 0 && text.StartsWith("Error: ", StringComparison.Ordinal) && body.StartsWith("Error: ", StringComparison.Ordinal)),
            'u' or 'U' => text.StartsWith("unable to complete operation after", StringComparison.OrdinalIgnoreCase),
            'T' or 't' => text.StartsWith("Timed out snapshotting FS", StringComparison.OrdinalIgnoreCase),
            's' => text.StartsWith("stream error: stream ID ", StringComparison.Ordinal),
            // The executor crashed: a Go panic (tektoncd/pipeline#5727) or a Go runtime fatal error such as
            // "fatal error: runtime: out of memory" (kaniko#1333). Both end the process.
            'p' => text.StartsWith("panic: ", StringComparison.Ordinal),
            'f' => text.StartsWith("fatal error: ", StringComparison.Ordinal),
            _ => false,
        };

        if (!isFatal)
        {
            return false;
        }

        StartFatal(text, continuation: true);
        return true;
    }

    private void StartFatal(ReadOnlySpan<char> text, bool continuation)
    {
        if (_tentativePull)
        {
            ResolveTentative(confirmed: true);
        }

        _fatalSlot = _slot;
        _fatalLastPhaseSlot = _lastPhaseSlot;
        _hasFatal = true;
        _hasFatalFromError = false;
        _continuationOpen = continuation;
        _fatalHasReset = text.Contains(ResetByPeer, StringComparison.OrdinalIgnoreCase);
        _errorLength = 0;
        AppendError(text);
    }

    private void HandlePlain(ReadOnlySpan<char> body)
    {
        if (!_hasFatal || !_continuationOpen)
        {
            return;
        }

        // The error continues on lines that are indented or bulleted (Go multi-line errors), or after a line
        // ending in ':'. Anything else (CI junk, cobra's "Usage:") ends it.
        var previousEndsWithColon = _errorLength > 0 && _error[_errorLength - 1] == ':';
        var continues = body.Length > 0
            && (body[0] is ' ' or '\t' || body.StartsWith("* ", StringComparison.Ordinal) || previousEndsWithColon);
        if (!continues)
        {
            _continuationOpen = false;
            return;
        }

        _fatalHasReset |= body.Contains(ResetByPeer, StringComparison.OrdinalIgnoreCase);
        AppendError("\n");
        AppendError(body);
    }

    private void AppendError(ReadOnlySpan<char> text)
    {
        var room = MaxErrorChars - _errorLength;
        var take = Math.Min(room, text.Length);
        text[..take].CopyTo(_error.AsSpan(_errorLength));
        _errorLength += take;
    }

    // ---- result -------------------------------------------------------------------------------------

    /// <summary>
    /// The analysis of the lines seen so far. It does not change the analyzer's state, so a log being followed
    /// can be looked at while it is still being read; a phase still open counts up to the last timestamp seen.
    /// </summary>
    public KanikoLogAnalysis Complete()
    {
        var clock = _sawKubernetesClock ? KanikoLogClock.Kubernetes
            : _sawRfc3339Clock ? KanikoLogClock.Rfc3339
            : _sawElapsedClock ? KanikoLogClock.Elapsed
            : KanikoLogClock.None;
        var timeline = clock switch
        {
            KanikoLogClock.Kubernetes => _kubernetes,
            KanikoLogClock.None => null,
            _ => _kaniko,
        };

        // A manifest lookup still open at the end is taken as a real retrieval.
        var pendingPull = _tentativePull ? 1 : 0;
        double? Seconds(int slot)
        {
            if (timeline is null)
            {
                return null;
            }

            var ticks = timeline.Ticks[slot] + (slot == SlotPull ? timeline.Ticks[SlotPullTentative] : 0);
            return (double)ticks / TimeSpan.TicksPerSecond;
        }

        string? error = null;
        string? reason = null;
        KanikoPhase? failedPhase = null;
        int? exitCode = null;
        var resets = (int[])_resets.Clone();
        KanikoOutcome outcome;
        if (_hasFatal)
        {
            outcome = KanikoOutcome.Failed;
            error = new string(_error, 0, _errorLength);
            failedPhase = KanikoErrorReasons.PhaseFromWrapper(error) ?? PhaseOf(
                _fatalSlot is SlotPull or SlotPullTentative or SlotExtract or SlotBuild or SlotPush ? _fatalSlot : _fatalLastPhaseSlot);
            reason = KanikoErrorReasons.Classify(error, failedPhase);
            exitCode = KanikoErrorReasons.StepExitCode(error);
            if (_fatalHasReset)
            {
                resets[failedPhase == KanikoPhase.Preflight ? SlotCount : SlotOf(failedPhase.Value)]++;
            }
        }
        else
        {
            outcome = SucceededSoFar ? KanikoOutcome.Succeeded : KanikoOutcome.Incomplete;
        }

        var notPushed = new List<string>();
        if (!_allDestinationsPushed)
        {
            for (var i = 0; i < _destinations.Length; i++)
            {
                if (!_destinationPushed[i])
                {
                    notPushed.Add(_options.Destinations[i].Trim());
                }
            }
        }

        DateTimeOffset? first = null, last = null;
        var phaseStarts = new Dictionary<KanikoPhase, DateTimeOffset>();
        if (timeline is { HasLast: true } && (clock != KanikoLogClock.Elapsed || _options.ContainerStartedAt is not null))
        {
            first = new DateTimeOffset(timeline.First, TimeSpan.Zero);
            last = new DateTimeOffset(timeline.Last, TimeSpan.Zero);
            foreach (var (phase, slot) in (ReadOnlySpan<(KanikoPhase, int)>)[(KanikoPhase.Pull, SlotPull), (KanikoPhase.Extract, SlotExtract), (KanikoPhase.Build, SlotBuild), (KanikoPhase.Push, SlotPush)])
            {
                var start = slot == SlotPull ? Timeline.Earliest(timeline.Starts[SlotPull], timeline.Starts[SlotPullTentative]) : timeline.Starts[slot];
                if (start >= 0 && Seconds(slot) > 0)
                {
                    phaseStarts[phase] = new DateTimeOffset(start, TimeSpan.Zero);
                }
            }
        }

        return new KanikoLogAnalysis
        {
            Format = _format,
            Clock = clock,
            Outcome = outcome,
            Reason = reason,
            Transient = reason is not null && FailureReasons.IsTransient(reason),
            FailedPhase = failedPhase,
            Pull = new PhaseTiming(Seconds(SlotPull), _counts[SlotPull] + pendingPull),
            Extract = new PhaseTiming(Seconds(SlotExtract), _counts[SlotExtract]),
            Build = new PhaseTiming(Seconds(SlotBuild), _counts[SlotBuild]),
            Push = new PhaseTiming(Seconds(SlotPush), _counts[SlotPush]),
            Resets = new Dictionary<KanikoPhase, int>
            {
                [KanikoPhase.Preflight] = resets[SlotCount],
                [KanikoPhase.Pull] = resets[SlotPull],
                [KanikoPhase.Extract] = resets[SlotExtract],
                [KanikoPhase.Build] = resets[SlotBuild],
                [KanikoPhase.Push] = resets[SlotPush],
            },
            Retries = new Dictionary<KanikoPhase, int>
            {
                [KanikoPhase.Pull] = _retries[SlotPull],
                [KanikoPhase.Extract] = _retries[SlotExtract],
                [KanikoPhase.Push] = _retries[SlotPush],
            },
            CacheHits = _cacheHits,
            CacheMisses = _cacheMisses,
            Pushed = [.. _pushed],
            NotPushed = notPushed,
            Note = outcome == KanikoOutcome.Incomplete ? IncompleteNote(notPushed, _otherPushes) : null,
            BaseRegistry = _baseRegistry,
            Error = error,
            StepExitCode = exitCode,
            FirstTimestamp = first,
            LastTimestamp = last,
            PhaseStarts = phaseStarts,
        };
    }

    /// <summary>Why a log without a fatal error is not a success: which destinations were never pushed, and what was pushed instead.</summary>
    internal static string IncompleteNote(IReadOnlyList<string> notPushed, IReadOnlyList<string> otherPushes)
    {
        if (notPushed.Count == 0)
        {
            return "neither a push to a destination nor a fatal error was seen: the log ends before Kaniko finished (killed or cut short)";
        }

        var note = $"no push to {string.Join(", ", notPushed)} was seen";
        return otherPushes.Count > 0
            ? note + $"; the log pushes {string.Join(", ", otherPushes)}, which {(otherPushes.Count == 1 ? "is" : "are")} not a given destination"
            : note + ": the log ends before Kaniko pushed (killed or cut short)";
    }

    private static KanikoPhase PhaseOf(int slot) => slot switch
    {
        SlotPull or SlotPullTentative => KanikoPhase.Pull,
        SlotExtract => KanikoPhase.Extract,
        SlotBuild => KanikoPhase.Build,
        SlotPush => KanikoPhase.Push,
        _ => KanikoPhase.Preflight,
    };

    private static int SlotOf(KanikoPhase phase) => phase switch
    {
        KanikoPhase.Pull => SlotPull,
        KanikoPhase.Extract => SlotExtract,
        KanikoPhase.Build => SlotBuild,
        KanikoPhase.Push => SlotPush,
        _ => SlotCount,
    };

    private readonly record struct PendingPush(ulong Repository, bool Final, int Destination);

    /// <summary>A push taken as final for now: its index in <see cref="_pushed"/> (-1 when not listed) and the
    /// destination it marked by repository (-1 for none).</summary>
    private readonly record struct ProvisionalPush(int PushedIndex, int Destination);

    /// <summary>
    /// Time per slot on one clock: each timestamp closes the segment since the previous one, which goes to the
    /// slot that was current after the previous stamped line.
    /// </summary>
    private sealed class Timeline
    {
        public readonly long[] Ticks = new long[SlotCount];
        /// <summary>Where each slot first got time (-1: never).</summary>
        public readonly long[] Starts = [-1, -1, -1, -1, -1, -1];
        public bool HasLast;
        public long First;
        public long Last;
        public int PrevSlot;

        public void Close(long ticks)
        {
            if (!HasLast)
            {
                HasLast = true;
                First = ticks;
                Last = ticks;
                return;
            }

            // Out-of-order stamps (stdout and stderr are merged) add nothing and do not move the clock back.
            if (ticks > Last)
            {
                if (Starts[PrevSlot] < 0)
                {
                    Starts[PrevSlot] = Last;
                }
                Ticks[PrevSlot] += ticks - Last;
                Last = ticks;
            }
        }

        public static long Earliest(long a, long b) => a < 0 ? b : b < 0 ? a : Math.Min(a, b);

        public void Resolve(int target)
        {
            Ticks[target] += Ticks[SlotPullTentative];
            Ticks[SlotPullTentative] = 0;
            Starts[target] = Earliest(Starts[target], Starts[SlotPullTentative]);
            Starts[SlotPullTentative] = -1;
            if (PrevSlot == SlotPullTentative)
            {
                PrevSlot = target;
            }
        }
    }
}
