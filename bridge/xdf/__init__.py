"""XDF files (https://github.com/sccn/xdf): writing recordings, reading KMG streams back.

`writer.XdfWriter` writes the chunk format itself (pyxdf only reads);
`reader.read_xdf_recording` loads the KMG stream of any XDF file (ours, or
LabRecorder's capture of `bridge --lsl`) as a contract-2 `Recording`.
"""
