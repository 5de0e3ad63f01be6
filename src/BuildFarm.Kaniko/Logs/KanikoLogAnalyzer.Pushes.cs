namespace BuildFarm.Kaniko.Logs;

public sealed partial class KanikoLogAnalyzer
{
    // ---- pushes -------------------------------------------------------------------------------------

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

    private readonly record struct PendingPush(ulong Repository, bool Final, int Destination);

    /// <summary>A push taken as final for now: its index in <see cref="_pushed"/> (-1 when not listed) and the
    /// destination it marked by repository (-1 for none).</summary>
    private readonly record struct ProvisionalPush(int PushedIndex, int Destination);
}
