// MSBuild inline task (RoslynCodeTaskFactory, compiled against netstandard2.0, so no newer APIs).
// See TorchSharpNativeFix.targets for why it exists.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class TrapReplaceWeakenElfVersionNeeds : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    private static readonly string[] HostLibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
    };

    [Required] public string Directory { get; set; } = "";
    [Required] public string Versions { get; set; } = "";

    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory)) return true;
        var targets = System.IO.Directory.GetFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        if (targets.Length == 0) return true;

        string hostLib = HostLibStdCxxCandidates.FirstOrDefault(File.Exists);
        byte[] hostBytes = hostLib is null ? Array.Empty<byte>() : File.ReadAllBytes(hostLib);
        var missing = Versions.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries)
            .Select(v => v.Trim())
            .Where(v => hostLib is null || IndexOf(hostBytes, Encoding.ASCII.GetBytes(v + "\0")) < 0)
            .ToList();
        var missingSet = new HashSet<string>(missing, StringComparer.Ordinal);
        if (missing.Count == 0) return true;

        foreach (var path in targets)
        {
            try
            {
                var bytes = File.ReadAllBytes(path);
                var changed = Weaken(bytes, missingSet);
                if (changed.Count == 0) continue;
                var temp = path + ".trapreplace-tmp";
                File.WriteAllBytes(temp, bytes);
                File.Copy(temp, path, true);
                File.Delete(temp);
                Log.LogMessage(MessageImportance.High,
                    "TrapReplace: marked {0} as a weak version need in {1} (host libstdc++ {2} lacks it).",
                    string.Join(", ", changed), path, hostLib ?? "not found");
            }
            catch (Exception ex) when (ex is IOException || ex is InvalidDataException || ex is UnauthorizedAccessException)
            {
                Log.LogWarning("TrapReplace: could not patch {0}: {1}", path, ex.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }

    /// <summary>Sets VER_FLG_WEAK on the named vernaux entries of an ELF64 little-endian image; returns the names changed.</summary>
    public static List<string> Weaken(byte[] elf, ISet<string> names)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only ELF64 little-endian is supported");

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        var changed = new List<string>();
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
            long strOffset = (long)BitConverter.ToUInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);

            long vn = offset;
            while (true)
            {
                int count = BitConverter.ToUInt16(elf, (int)vn + 2);
                long vna = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < count; a++)
                {
                    uint nameOffset = BitConverter.ToUInt32(elf, (int)vna + 8);
                    string name = ReadCString(elf, strOffset + nameOffset);
                    ushort flags = BitConverter.ToUInt16(elf, (int)vna + 4);
                    if (names.Contains(name) && (flags & VerFlgWeak) == 0)
                    {
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, (int)vna + 4);
                        changed.Add(name);
                    }
                    uint nextAux = BitConverter.ToUInt32(elf, (int)vna + 12);
                    if (nextAux == 0) break;
                    vna += nextAux;
                }
                uint next = BitConverter.ToUInt32(elf, (int)vn + 12);
                if (next == 0) break;
                vn += next;
            }
        }
        return changed;
    }

    private static string ReadCString(byte[] bytes, long start)
    {
        long end = start;
        while (end < bytes.Length && bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)start, (int)(end - start));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i <= haystack.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }
}
