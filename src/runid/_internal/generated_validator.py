"""The generated validators, precompiled: written by ``python scripts/gen_docs.py`` from
the schema nodes (:func:`runid._internal.schema.codegen.generated_module`); do not edit.

Each function is the source :func:`~runid._internal.schema.codegen.compile_normalizer`
generates for the node of that name. It runs only with the constants that function builds
(its globals here are undefined), and only while ``DIGESTS`` names its source's digest.
"""

# fmt: off
# ruff: noqa
# mypy: ignore-errors

DIGESTS = {
    'declaration': '467425428c739f7238eb930c4632d353c03f216a9e2d9b2fbbf59376795172e7',
    'record': '814a63e8c0d4b4ee63352de25b34a5c7125ad89b54c715205004905461488090',
    'record_body': '5e87c4119661ddef929a55697e3b8c833dc8421bc5803d913c89d8bef0cf18a7',
}


def declaration(v0):
    try:
        if type(v0) is not dict:
            return INVALID
        v1 = None
        v2 = v0['spec']
        if v2 != 'runid/v1':
            return INVALID
        v3 = v0['model']
        v4 = type(v3)
        if v4 is not dict:
            return INVALID
        if 'absent' in v3:
            v5 = v3['absent']
            if v5 not in C6:
                return INVALID
            if len(v3) != 1:
                return INVALID
            pass
        else:
            v6 = None
            v7 = v3['provider']
            if type(v7) is not str or not v7:
                return INVALID
            v8 = v3['name']
            if type(v8) is not str or not v8:
                return INVALID
            v9 = v3['version']
            v10 = type(v9)
            if v10 is dict:
                v11 = v9['absent']
                if v11 not in C7:
                    return INVALID
                if len(v9) != 1:
                    return INVALID
                pass
            else:
                if type(v9) is not str or not v9:
                    return INVALID
                pass
            v12 = v3['endpoint']
            v13 = type(v12)
            if v13 is dict:
                v14 = v12['absent']
                if v14 not in C8:
                    return INVALID
                if len(v12) != 1:
                    return INVALID
                pass
            else:
                if type(v12) is not str or C9(v12) is None:
                    return INVALID
                pass
            v15 = v3['weights']
            v16 = type(v15)
            if v16 is dict:
                v17 = v15['absent']
                if v17 not in C10:
                    return INVALID
                if len(v15) != 1:
                    return INVALID
                pass
            else:
                if type(v15) is not list:
                    return INVALID
                if len(v15) < 1:
                    return INVALID
                v19 = None
                for v20, v18 in enumerate(v15):
                    if type(v18) is not dict:
                        return INVALID
                    v21 = None
                    v22 = v18['name']
                    if type(v22) is not str or not v22:
                        return INVALID
                    v23 = v18['digest']
                    if type(v23) is not str or C11(v23) is None:
                        return INVALID
                    v24 = v18['size']
                    v25 = type(v24)
                    if v25 is int:
                        if not (0 <= v24 <= 9007199254740991):
                            return INVALID
                        pass
                    elif v25 is float:
                        if not v24.is_integer() or not (0.0 <= v24 <= INF):
                            return INVALID
                        v26 = FIX_FLOAT(v24)
                        if v26 is not v24:
                            if v21 is None:
                                v21 = {}
                                pass
                            v21['size'] = v26
                            pass
                        pass
                    else:
                        return INVALID
                        pass
                    if len(v18) != 3:
                        return INVALID
                    if v21 is not None:
                        v27 = {**v18, **v21}
                        if v19 is None:
                            v19 = list(v15)
                            pass
                        v19[v20] = v27
                        pass
                    pass
                if v19 is not None:
                    if v6 is None:
                        v6 = {}
                        pass
                    v6['weights'] = v19
                    pass
                v28 = [v18['name'] for v18 in v15]
                if v28 != sorted(set(v28)):
                    return INVALID
                pass
            v29 = v3['tokenizer']
            v30 = type(v29)
            if v30 is dict:
                v31 = v29['absent']
                if v31 not in C12:
                    return INVALID
                if len(v29) != 1:
                    return INVALID
                pass
            else:
                if type(v29) is not list:
                    return INVALID
                if len(v29) < 1:
                    return INVALID
                v33 = None
                for v34, v32 in enumerate(v29):
                    if type(v32) is not dict:
                        return INVALID
                    v35 = None
                    v36 = v32['name']
                    if type(v36) is not str or not v36:
                        return INVALID
                    v37 = v32['digest']
                    if type(v37) is not str or C13(v37) is None:
                        return INVALID
                    v38 = v32['size']
                    v39 = type(v38)
                    if v39 is int:
                        if not (0 <= v38 <= 9007199254740991):
                            return INVALID
                        pass
                    elif v39 is float:
                        if not v38.is_integer() or not (0.0 <= v38 <= INF):
                            return INVALID
                        v40 = FIX_FLOAT(v38)
                        if v40 is not v38:
                            if v35 is None:
                                v35 = {}
                                pass
                            v35['size'] = v40
                            pass
                        pass
                    else:
                        return INVALID
                        pass
                    if len(v32) != 3:
                        return INVALID
                    if v35 is not None:
                        v41 = {**v32, **v35}
                        if v33 is None:
                            v33 = list(v29)
                            pass
                        v33[v34] = v41
                        pass
                    pass
                if v33 is not None:
                    if v6 is None:
                        v6 = {}
                        pass
                    v6['tokenizer'] = v33
                    pass
                v42 = [v32['name'] for v32 in v29]
                if v42 != sorted(set(v42)):
                    return INVALID
                pass
            v43 = v3['dtype']
            v44 = type(v43)
            if v44 is dict:
                v45 = v43['absent']
                if v45 not in C14:
                    return INVALID
                if len(v43) != 1:
                    return INVALID
                pass
            else:
                if type(v43) is not str or not v43:
                    return INVALID
                pass
            v46 = v3['quantization']
            v47 = type(v46)
            if v47 is dict:
                v48 = v46['absent']
                if v48 not in C15:
                    return INVALID
                if len(v46) != 1:
                    return INVALID
                pass
            else:
                if type(v46) is not str or not v46:
                    return INVALID
                pass
            v49 = v3['adapters']
            v50 = type(v49)
            if v50 is dict:
                v51 = v49['absent']
                if v51 not in C16:
                    return INVALID
                if len(v49) != 1:
                    return INVALID
                pass
            else:
                if type(v49) is not list:
                    return INVALID
                v53 = None
                for v54, v52 in enumerate(v49):
                    if type(v52) is not dict:
                        return INVALID
                    v55 = None
                    v56 = v52['name']
                    if type(v56) is not str or not v56:
                        return INVALID
                    v57 = v52['digest']
                    if type(v57) is not str or C17(v57) is None:
                        return INVALID
                    v58 = v52['size']
                    v59 = type(v58)
                    if v59 is int:
                        if not (0 <= v58 <= 9007199254740991):
                            return INVALID
                        pass
                    elif v59 is float:
                        if not v58.is_integer() or not (0.0 <= v58 <= INF):
                            return INVALID
                        v60 = FIX_FLOAT(v58)
                        if v60 is not v58:
                            if v55 is None:
                                v55 = {}
                                pass
                            v55['size'] = v60
                            pass
                        pass
                    else:
                        return INVALID
                        pass
                    if len(v52) != 3:
                        return INVALID
                    if v55 is not None:
                        v61 = {**v52, **v55}
                        if v53 is None:
                            v53 = list(v49)
                            pass
                        v53[v54] = v61
                        pass
                    pass
                if v53 is not None:
                    if v6 is None:
                        v6 = {}
                        pass
                    v6['adapters'] = v53
                    pass
                v62 = [v52['name'] for v52 in v49]
                if v62 != sorted(set(v62)):
                    return INVALID
                pass
            if len(v3) != 9:
                return INVALID
            if v6 is not None:
                v63 = {**v3, **v6}
                if v1 is None:
                    v1 = {}
                    pass
                v1['model'] = v63
                pass
            pass
        v64 = v0['parameters']
        v65 = type(v64)
        if v65 is dict and 'absent' in v64:
            v66 = v64['absent']
            if v66 not in C18:
                return INVALID
            if len(v64) != 1:
                return INVALID
            pass
        else:
            if type(v64) is not dict:
                return INVALID
            v67 = None
            for v68, v69 in v64.items():
                if C19(v68) is None:
                    return INVALID
                v70 = C20.get(v68, 0)
                if v70 == 1:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v71 = v69['source']
                        if v71 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v72 = None
                        v73 = v69['source']
                        if v73 not in C21:
                            return INVALID
                        v74 = v69['value']
                        v75 = type(v74)
                        if v75 is int:
                            if not (0 <= v74 <= 9007199254740991):
                                return INVALID
                            pass
                        elif v75 is float:
                            if not (0.0 <= v74 <= INF):
                                return INVALID
                            v76 = FIX_FLOAT(v74)
                            if v76 is not v74:
                                if v72 is None:
                                    v72 = {}
                                    pass
                                v72['value'] = v76
                                pass
                            pass
                        else:
                            return INVALID
                            pass
                        if len(v69) != 2:
                            return INVALID
                        if v72 is not None:
                            v77 = {**v69, **v72}
                            if v67 is None:
                                v67 = {}
                                pass
                            v67[v68] = v77
                            pass
                        pass
                    pass
                elif v70 == 2:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v78 = v69['source']
                        if v78 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v79 = None
                        v80 = v69['source']
                        if v80 not in C22:
                            return INVALID
                        v81 = v69['value']
                        v82 = type(v81)
                        if v82 is int:
                            if not (0 <= v81 <= 1):
                                return INVALID
                            pass
                        elif v82 is float:
                            if not (0.0 <= v81 <= 1.0):
                                return INVALID
                            v83 = FIX_FLOAT(v81)
                            if v83 is not v81:
                                if v79 is None:
                                    v79 = {}
                                    pass
                                v79['value'] = v83
                                pass
                            pass
                        else:
                            return INVALID
                            pass
                        if len(v69) != 2:
                            return INVALID
                        if v79 is not None:
                            v84 = {**v69, **v79}
                            if v67 is None:
                                v67 = {}
                                pass
                            v67[v68] = v84
                            pass
                        pass
                    pass
                elif v70 == 3:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v85 = v69['source']
                        if v85 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v86 = None
                        v87 = v69['source']
                        if v87 not in C23:
                            return INVALID
                        v88 = v69['value']
                        v89 = type(v88)
                        if v89 is int:
                            if not (0 <= v88 <= 9007199254740991):
                                return INVALID
                            pass
                        elif v89 is float:
                            if not v88.is_integer() or not (0.0 <= v88 <= INF):
                                return INVALID
                            v90 = FIX_FLOAT(v88)
                            if v90 is not v88:
                                if v86 is None:
                                    v86 = {}
                                    pass
                                v86['value'] = v90
                                pass
                            pass
                        else:
                            return INVALID
                            pass
                        if len(v69) != 2:
                            return INVALID
                        if v86 is not None:
                            v91 = {**v69, **v86}
                            if v67 is None:
                                v67 = {}
                                pass
                            v67[v68] = v91
                            pass
                        pass
                    pass
                elif v70 == 4:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v92 = v69['source']
                        if v92 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v93 = None
                        v94 = v69['source']
                        if v94 not in C24:
                            return INVALID
                        v95 = v69['value']
                        v96 = type(v95)
                        if v96 is int:
                            if not (1 <= v95 <= 9007199254740991):
                                return INVALID
                            pass
                        elif v96 is float:
                            if not v95.is_integer() or not (1.0 <= v95 <= INF):
                                return INVALID
                            v97 = FIX_FLOAT(v95)
                            if v97 is not v95:
                                if v93 is None:
                                    v93 = {}
                                    pass
                                v93['value'] = v97
                                pass
                            pass
                        else:
                            return INVALID
                            pass
                        if len(v69) != 2:
                            return INVALID
                        if v93 is not None:
                            v98 = {**v69, **v93}
                            if v67 is None:
                                v67 = {}
                                pass
                            v67[v68] = v98
                            pass
                        pass
                    pass
                elif v70 == 5:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v99 = v69['source']
                        if v99 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v100 = None
                        v101 = v69['source']
                        if v101 not in C25:
                            return INVALID
                        v102 = v69['value']
                        v103 = type(v102)
                        if v103 is int:
                            if not (-9007199254740991 <= v102 <= 9007199254740991):
                                return INVALID
                            pass
                        elif v103 is float:
                            if not v102.is_integer():
                                return INVALID
                            v104 = FIX_FLOAT(v102)
                            if v104 is not v102:
                                if v100 is None:
                                    v100 = {}
                                    pass
                                v100['value'] = v104
                                pass
                            pass
                        else:
                            return INVALID
                            pass
                        if len(v69) != 2:
                            return INVALID
                        if v100 is not None:
                            v105 = {**v69, **v100}
                            if v67 is None:
                                v67 = {}
                                pass
                            v67[v68] = v105
                            pass
                        pass
                    pass
                elif v70 == 6:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v106 = v69['source']
                        if v106 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v107 = v69['source']
                        if v107 not in C26:
                            return INVALID
                        v108 = v69['value']
                        if type(v108) is not list:
                            return INVALID
                        for v109 in v108:
                            if type(v109) is not str or not v109:
                                return INVALID
                            pass
                        if len(v69) != 2:
                            return INVALID
                        pass
                    pass
                elif v70 == 7:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v110 = v69['source']
                        if v110 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v111 = None
                        v112 = v69['source']
                        if v112 not in C27:
                            return INVALID
                        v113 = v69['value']
                        v114 = type(v113)
                        if v114 is int:
                            if not (-2 <= v113 <= 2):
                                return INVALID
                            pass
                        elif v114 is float:
                            if not (-2.0 <= v113 <= 2.0):
                                return INVALID
                            v115 = FIX_FLOAT(v113)
                            if v115 is not v113:
                                if v111 is None:
                                    v111 = {}
                                    pass
                                v111['value'] = v115
                                pass
                            pass
                        else:
                            return INVALID
                            pass
                        if len(v69) != 2:
                            return INVALID
                        if v111 is not None:
                            v116 = {**v69, **v111}
                            if v67 is None:
                                v67 = {}
                                pass
                            v67[v68] = v116
                            pass
                        pass
                    pass
                elif v70 == 8:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v117 = v69['source']
                        if v117 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v118 = v69['source']
                        if v118 not in C28:
                            return INVALID
                        v119 = v69['value']
                        if type(v119) is not bool:
                            return INVALID
                        if len(v69) != 2:
                            return INVALID
                        pass
                    pass
                else:
                    if type(v69) is dict and v69.get('source') == 'provider_default':
                        if type(v69) is not dict:
                            return INVALID
                        v120 = v69['source']
                        if v120 != 'provider_default':
                            return INVALID
                        if len(v69) != 1:
                            return INVALID
                        pass
                    else:
                        if type(v69) is not dict:
                            return INVALID
                        v121 = None
                        v122 = v69['source']
                        if v122 not in C29:
                            return INVALID
                        v123 = v69['value']
                        v124 = NORMALIZE(v123, 3)
                        if v124 is not v123:
                            if v121 is None:
                                v121 = {}
                                pass
                            v121['value'] = v124
                            pass
                        if len(v69) != 2:
                            return INVALID
                        if v121 is not None:
                            v125 = {**v69, **v121}
                            if v67 is None:
                                v67 = {}
                                pass
                            v67[v68] = v125
                            pass
                        pass
                    pass
                pass
            if v67 is not None:
                v126 = {**v64, **v67}
                if v1 is None:
                    v1 = {}
                    pass
                v1['parameters'] = v126
                pass
            pass
        v127 = v0['instructions']
        v128 = type(v127)
        if v128 is not dict:
            return INVALID
        if 'absent' in v127:
            v129 = v127['absent']
            if v129 not in C30:
                return INVALID
            if len(v127) != 1:
                return INVALID
            pass
        else:
            v130 = None
            v131 = v127['system']
            if type(v131) is not list:
                return INVALID
            if len(v131) < 1:
                return INVALID
            v133 = None
            for v134, v132 in enumerate(v131):
                if type(v132) is not dict:
                    return INVALID
                v135 = None
                v136 = v132['digest']
                if type(v136) is not str or C31(v136) is None:
                    return INVALID
                v137 = v132['size']
                v138 = type(v137)
                if v138 is int:
                    if not (0 <= v137 <= 9007199254740991):
                        return INVALID
                    pass
                elif v138 is float:
                    if not v137.is_integer() or not (0.0 <= v137 <= INF):
                        return INVALID
                    v139 = FIX_FLOAT(v137)
                    if v139 is not v137:
                        if v135 is None:
                            v135 = {}
                            pass
                        v135['size'] = v139
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v140 = v132['media_type']
                if type(v140) is not str or (v140 not in C32 and not C33(v140)):
                    return INVALID
                if len(v132) != 3:
                    return INVALID
                if v135 is not None:
                    v141 = {**v132, **v135}
                    if v133 is None:
                        v133 = list(v131)
                        pass
                    v133[v134] = v141
                    pass
                pass
            if v133 is not None:
                if v130 is None:
                    v130 = {}
                    pass
                v130['system'] = v133
                pass
            v142 = v127['template']
            v143 = type(v142)
            if v143 is not dict:
                return INVALID
            if 'absent' in v142:
                v144 = v142['absent']
                if v144 not in C34:
                    return INVALID
                if len(v142) != 1:
                    return INVALID
                pass
            else:
                v145 = None
                v146 = v142['id']
                if type(v146) is not str or not v146:
                    return INVALID
                v147 = v142['version']
                v148 = type(v147)
                if v148 is dict:
                    v149 = v147['absent']
                    if v149 not in C35:
                        return INVALID
                    if len(v147) != 1:
                        return INVALID
                    pass
                else:
                    if type(v147) is not str or not v147:
                        return INVALID
                    pass
                v150 = v142['digest']
                if type(v150) is not str or C36(v150) is None:
                    return INVALID
                v151 = v142['variables']
                if type(v151) is not dict:
                    return INVALID
                v152 = None
                for v153, v154 in v151.items():
                    if type(v153) is not str:
                        return INVALID
                    v155 = NORMALIZE(v154, 4)
                    if v155 is not v154:
                        if v152 is None:
                            v152 = {}
                            pass
                        v152[v153] = v155
                        pass
                    pass
                if v152 is not None:
                    v156 = {**v151, **v152}
                    if v145 is None:
                        v145 = {}
                        pass
                    v145['variables'] = v156
                    pass
                if len(v142) != 4:
                    return INVALID
                if v145 is not None:
                    v157 = {**v142, **v145}
                    if v130 is None:
                        v130 = {}
                        pass
                    v130['template'] = v157
                    pass
                pass
            v158 = v127['source']
            v159 = type(v158)
            if v159 is dict:
                v160 = v158['absent']
                if v160 not in C37:
                    return INVALID
                if len(v158) != 1:
                    return INVALID
                pass
            else:
                if type(v158) is not str or not v158:
                    return INVALID
                pass
            if len(v127) != 3:
                return INVALID
            if v130 is not None:
                v161 = {**v127, **v130}
                if v1 is None:
                    v1 = {}
                    pass
                v1['instructions'] = v161
                pass
            pass
        v162 = v0['inputs']
        v163 = type(v162)
        if v163 is not dict:
            return INVALID
        if 'absent' in v162:
            v164 = v162['absent']
            if v164 not in C38:
                return INVALID
            if len(v162) != 1:
                return INVALID
            pass
        else:
            v165 = None
            v166 = v162['messages']
            if type(v166) is not list:
                return INVALID
            if len(v166) < 1:
                return INVALID
            v168 = None
            for v169, v167 in enumerate(v166):
                if type(v167) is not dict:
                    return INVALID
                v170 = 2
                v171 = None
                v172 = v167['role']
                if v172 not in C39:
                    return INVALID
                v173 = v167['content']
                v174 = type(v173)
                if v174 is not dict:
                    return INVALID
                if 'absent' in v173:
                    v175 = v173['absent']
                    if v175 not in C40:
                        return INVALID
                    if len(v173) != 1:
                        return INVALID
                    pass
                else:
                    v176 = None
                    v177 = v173['digest']
                    if type(v177) is not str or C41(v177) is None:
                        return INVALID
                    v178 = v173['size']
                    v179 = type(v178)
                    if v179 is int:
                        if not (0 <= v178 <= 9007199254740991):
                            return INVALID
                        pass
                    elif v179 is float:
                        if not v178.is_integer() or not (0.0 <= v178 <= INF):
                            return INVALID
                        v180 = FIX_FLOAT(v178)
                        if v180 is not v178:
                            if v176 is None:
                                v176 = {}
                                pass
                            v176['size'] = v180
                            pass
                        pass
                    else:
                        return INVALID
                        pass
                    v181 = v173['media_type']
                    if type(v181) is not str or (v181 not in C42 and not C43(v181)):
                        return INVALID
                    if len(v173) != 3:
                        return INVALID
                    if v176 is not None:
                        v182 = {**v173, **v176}
                        if v171 is None:
                            v171 = {}
                            pass
                        v171['content'] = v182
                        pass
                    pass
                v183 = v167.get('name', MISSING)
                if v183 is not MISSING:
                    v170 += 1
                    if type(v183) is not str or not v183:
                        return INVALID
                    pass
                v184 = v167.get('tool_call_id', MISSING)
                if v184 is not MISSING:
                    v170 += 1
                    if type(v184) is not str or not v184:
                        return INVALID
                    pass
                v185 = v167.get('tool_calls', MISSING)
                if v185 is not MISSING:
                    v170 += 1
                    if type(v185) is not list:
                        return INVALID
                    if len(v185) < 1:
                        return INVALID
                    v187 = None
                    for v188, v186 in enumerate(v185):
                        if type(v186) is not dict:
                            return INVALID
                        v189 = None
                        v190 = v186['id']
                        if type(v190) is not str or not v190:
                            return INVALID
                        v191 = v186['name']
                        if type(v191) is not str or not v191:
                            return INVALID
                        v192 = v186['arguments']
                        if type(v192) is not dict:
                            return INVALID
                        v193 = None
                        v194 = v192['digest']
                        if type(v194) is not str or C44(v194) is None:
                            return INVALID
                        v195 = v192['size']
                        v196 = type(v195)
                        if v196 is int:
                            if not (0 <= v195 <= 9007199254740991):
                                return INVALID
                            pass
                        elif v196 is float:
                            if not v195.is_integer() or not (0.0 <= v195 <= INF):
                                return INVALID
                            v197 = FIX_FLOAT(v195)
                            if v197 is not v195:
                                if v193 is None:
                                    v193 = {}
                                    pass
                                v193['size'] = v197
                                pass
                            pass
                        else:
                            return INVALID
                            pass
                        v198 = v192['media_type']
                        if type(v198) is not str or (v198 not in C45 and not C46(v198)):
                            return INVALID
                        if len(v192) != 3:
                            return INVALID
                        if v193 is not None:
                            v199 = {**v192, **v193}
                            if v189 is None:
                                v189 = {}
                                pass
                            v189['arguments'] = v199
                            pass
                        if len(v186) != 3:
                            return INVALID
                        if v189 is not None:
                            v200 = {**v186, **v189}
                            if v187 is None:
                                v187 = list(v185)
                                pass
                            v187[v188] = v200
                            pass
                        pass
                    if v187 is not None:
                        if v171 is None:
                            v171 = {}
                            pass
                        v171['tool_calls'] = v187
                        pass
                    pass
                if len(v167) != v170:
                    return INVALID
                if v171 is not None:
                    v201 = {**v167, **v171}
                    if v168 is None:
                        v168 = list(v166)
                        pass
                    v168[v169] = v201
                    pass
                pass
            if v168 is not None:
                if v165 is None:
                    v165 = {}
                    pass
                v165['messages'] = v168
                pass
            v202 = v162['truncation']
            v203 = type(v202)
            if v203 is not dict:
                return INVALID
            if 'absent' in v202:
                v204 = v202['absent']
                if v204 not in C47:
                    return INVALID
                if len(v202) != 1:
                    return INVALID
                pass
            else:
                v205 = None
                v206 = v202['strategy']
                if type(v206) is not str or not v206:
                    return INVALID
                v207 = v202['original_count']
                v208 = type(v207)
                if v208 is int:
                    if not (0 <= v207 <= 9007199254740991):
                        return INVALID
                    pass
                elif v208 is float:
                    if not v207.is_integer() or not (0.0 <= v207 <= INF):
                        return INVALID
                    v209 = FIX_FLOAT(v207)
                    if v209 is not v207:
                        if v205 is None:
                            v205 = {}
                            pass
                        v205['original_count'] = v209
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v210 = v202['kept_count']
                v211 = type(v210)
                if v211 is int:
                    if not (0 <= v210 <= 9007199254740991):
                        return INVALID
                    pass
                elif v211 is float:
                    if not v210.is_integer() or not (0.0 <= v210 <= INF):
                        return INVALID
                    v212 = FIX_FLOAT(v210)
                    if v212 is not v210:
                        if v205 is None:
                            v205 = {}
                            pass
                        v205['kept_count'] = v212
                        pass
                    pass
                else:
                    return INVALID
                    pass
                if len(v202) != 3:
                    return INVALID
                if v205 is not None:
                    v213 = {**v202, **v205}
                    if v165 is None:
                        v165 = {}
                        pass
                    v165['truncation'] = v213
                    pass
                pass
            v214 = v162['upstream']
            if type(v214) is not list:
                return INVALID
            for v215 in v214:
                if type(v215) is not dict:
                    return INVALID
                v216 = v215['execution_id']
                if type(v216) is not str or C48(v216) is None:
                    return INVALID
                v217 = v215['relation']
                if type(v217) is not str or not v217:
                    return INVALID
                if len(v215) != 2:
                    return INVALID
                pass
            if len(v162) != 3:
                return INVALID
            if v165 is not None:
                v218 = {**v162, **v165}
                if v1 is None:
                    v1 = {}
                    pass
                v1['inputs'] = v218
                pass
            pass
        v219 = v0['context']
        v220 = type(v219)
        if v220 is not dict:
            return INVALID
        if 'absent' in v219:
            v221 = v219['absent']
            if v221 not in C49:
                return INVALID
            if len(v219) != 1:
                return INVALID
            pass
        else:
            v222 = None
            v223 = v219['query']
            v224 = type(v223)
            if v224 is not dict:
                return INVALID
            if 'absent' in v223:
                v225 = v223['absent']
                if v225 not in C50:
                    return INVALID
                if len(v223) != 1:
                    return INVALID
                pass
            else:
                v226 = None
                v227 = v223['digest']
                if type(v227) is not str or C51(v227) is None:
                    return INVALID
                v228 = v223['size']
                v229 = type(v228)
                if v229 is int:
                    if not (0 <= v228 <= 9007199254740991):
                        return INVALID
                    pass
                elif v229 is float:
                    if not v228.is_integer() or not (0.0 <= v228 <= INF):
                        return INVALID
                    v230 = FIX_FLOAT(v228)
                    if v230 is not v228:
                        if v226 is None:
                            v226 = {}
                            pass
                        v226['size'] = v230
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v231 = v223['media_type']
                if type(v231) is not str or (v231 not in C52 and not C53(v231)):
                    return INVALID
                if len(v223) != 3:
                    return INVALID
                if v226 is not None:
                    v232 = {**v223, **v226}
                    if v222 is None:
                        v222 = {}
                        pass
                    v222['query'] = v232
                    pass
                pass
            v233 = v219['retriever']
            if type(v233) is not dict:
                return INVALID
            v234 = v233['name']
            if type(v234) is not str or not v234:
                return INVALID
            v235 = v233['version']
            v236 = type(v235)
            if v236 is dict:
                v237 = v235['absent']
                if v237 not in C54:
                    return INVALID
                if len(v235) != 1:
                    return INVALID
                pass
            else:
                if type(v235) is not str or not v235:
                    return INVALID
                pass
            v238 = v233['kind']
            if type(v238) is not str or not v238:
                return INVALID
            if len(v233) != 3:
                return INVALID
            v239 = v219['embedding_model']
            v240 = type(v239)
            if v240 is not dict:
                return INVALID
            if 'absent' in v239:
                v241 = v239['absent']
                if v241 not in C55:
                    return INVALID
                if len(v239) != 1:
                    return INVALID
                pass
            else:
                v242 = v239['name']
                if type(v242) is not str or not v242:
                    return INVALID
                v243 = v239['version']
                v244 = type(v243)
                if v244 is dict:
                    v245 = v243['absent']
                    if v245 not in C56:
                        return INVALID
                    if len(v243) != 1:
                        return INVALID
                    pass
                else:
                    if type(v243) is not str or not v243:
                        return INVALID
                    pass
                v246 = v239['digest']
                v247 = type(v246)
                if v247 is dict:
                    v248 = v246['absent']
                    if v248 not in C57:
                        return INVALID
                    if len(v246) != 1:
                        return INVALID
                    pass
                else:
                    if type(v246) is not str or C58(v246) is None:
                        return INVALID
                    pass
                if len(v239) != 3:
                    return INVALID
                pass
            v249 = v219['index']
            if type(v249) is not dict:
                return INVALID
            v250 = v249['id']
            if type(v250) is not str or not v250:
                return INVALID
            v251 = v249['snapshot']
            v252 = type(v251)
            if v252 is dict:
                v253 = v251['absent']
                if v253 not in C59:
                    return INVALID
                if len(v251) != 1:
                    return INVALID
                pass
            else:
                if type(v251) is not str or C60(v251) is None:
                    return INVALID
                pass
            if len(v249) != 2:
                return INVALID
            v254 = v219['top_k']
            v255 = type(v254)
            if v255 is dict:
                v256 = v254['absent']
                if v256 not in C61:
                    return INVALID
                if len(v254) != 1:
                    return INVALID
                pass
            else:
                v257 = type(v254)
                if v257 is int:
                    if not (1 <= v254 <= 9007199254740991):
                        return INVALID
                    pass
                elif v257 is float:
                    if not v254.is_integer() or not (1.0 <= v254 <= INF):
                        return INVALID
                    v258 = FIX_FLOAT(v254)
                    if v258 is not v254:
                        if v222 is None:
                            v222 = {}
                            pass
                        v222['top_k'] = v258
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            v259 = v219['threshold']
            v260 = type(v259)
            if v260 is dict:
                v261 = v259['absent']
                if v261 not in C62:
                    return INVALID
                if len(v259) != 1:
                    return INVALID
                pass
            else:
                v262 = type(v259)
                if v262 is int:
                    if not (-9007199254740991 <= v259 <= 9007199254740991):
                        return INVALID
                    pass
                elif v262 is float:
                    v263 = FIX_FLOAT(v259)
                    if v263 is not v259:
                        if v222 is None:
                            v222 = {}
                            pass
                        v222['threshold'] = v263
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            v264 = v219['filters']
            if type(v264) is not dict:
                return INVALID
            v265 = None
            for v266, v267 in v264.items():
                if type(v266) is not str:
                    return INVALID
                v268 = NORMALIZE(v267, 3)
                if v268 is not v267:
                    if v265 is None:
                        v265 = {}
                        pass
                    v265[v266] = v268
                    pass
                pass
            if v265 is not None:
                v269 = {**v264, **v265}
                if v222 is None:
                    v222 = {}
                    pass
                v222['filters'] = v269
                pass
            v270 = v219['reranker']
            v271 = type(v270)
            if v271 is not dict:
                return INVALID
            if 'absent' in v270:
                v272 = v270['absent']
                if v272 not in C63:
                    return INVALID
                if len(v270) != 1:
                    return INVALID
                pass
            else:
                v273 = v270['name']
                if type(v273) is not str or not v273:
                    return INVALID
                v274 = v270['version']
                v275 = type(v274)
                if v275 is dict:
                    v276 = v274['absent']
                    if v276 not in C64:
                        return INVALID
                    if len(v274) != 1:
                        return INVALID
                    pass
                else:
                    if type(v274) is not str or not v274:
                        return INVALID
                    pass
                if len(v270) != 2:
                    return INVALID
                pass
            v277 = v219['retrieved']
            if type(v277) is not list:
                return INVALID
            v279 = None
            for v280, v278 in enumerate(v277):
                if type(v278) is not dict:
                    return INVALID
                v281 = None
                v282 = v278['source']
                if type(v282) is not str or not v282:
                    return INVALID
                v283 = v278['chunk']
                v284 = type(v283)
                if v284 is int or v284 is float:
                    v285 = type(v283)
                    if v285 is int:
                        if not (0 <= v283 <= 9007199254740991):
                            return INVALID
                        pass
                    elif v285 is float:
                        if not v283.is_integer() or not (0.0 <= v283 <= INF):
                            return INVALID
                        v286 = FIX_FLOAT(v283)
                        if v286 is not v283:
                            if v281 is None:
                                v281 = {}
                                pass
                            v281['chunk'] = v286
                            pass
                        pass
                    else:
                        return INVALID
                        pass
                    pass
                elif v284 is str:
                    if type(v283) is not str or not v283:
                        return INVALID
                    pass
                else:
                    return INVALID
                    pass
                v287 = v278['content']
                if type(v287) is not dict:
                    return INVALID
                v288 = None
                v289 = v287['digest']
                if type(v289) is not str or C65(v289) is None:
                    return INVALID
                v290 = v287['size']
                v291 = type(v290)
                if v291 is int:
                    if not (0 <= v290 <= 9007199254740991):
                        return INVALID
                    pass
                elif v291 is float:
                    if not v290.is_integer() or not (0.0 <= v290 <= INF):
                        return INVALID
                    v292 = FIX_FLOAT(v290)
                    if v292 is not v290:
                        if v288 is None:
                            v288 = {}
                            pass
                        v288['size'] = v292
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v293 = v287['media_type']
                if type(v293) is not str or (v293 not in C66 and not C67(v293)):
                    return INVALID
                if len(v287) != 3:
                    return INVALID
                if v288 is not None:
                    v294 = {**v287, **v288}
                    if v281 is None:
                        v281 = {}
                        pass
                    v281['content'] = v294
                    pass
                v295 = v278['score']
                v296 = type(v295)
                if v296 is dict:
                    v297 = v295['absent']
                    if v297 not in C68:
                        return INVALID
                    if len(v295) != 1:
                        return INVALID
                    pass
                else:
                    v298 = type(v295)
                    if v298 is int:
                        if not (-9007199254740991 <= v295 <= 9007199254740991):
                            return INVALID
                        pass
                    elif v298 is float:
                        v299 = FIX_FLOAT(v295)
                        if v299 is not v295:
                            if v281 is None:
                                v281 = {}
                                pass
                            v281['score'] = v299
                            pass
                        pass
                    else:
                        return INVALID
                        pass
                    pass
                if len(v278) != 4:
                    return INVALID
                if v281 is not None:
                    v300 = {**v278, **v281}
                    if v279 is None:
                        v279 = list(v277)
                        pass
                    v279[v280] = v300
                    pass
                pass
            if v279 is not None:
                if v222 is None:
                    v222 = {}
                    pass
                v222['retrieved'] = v279
                pass
            if len(v219) != 9:
                return INVALID
            if v222 is not None:
                v301 = {**v219, **v222}
                if v1 is None:
                    v1 = {}
                    pass
                v1['context'] = v301
                pass
            pass
        v302 = v0['tools']
        v303 = type(v302)
        if v303 is not dict:
            return INVALID
        if 'absent' in v302:
            v304 = v302['absent']
            if v304 not in C69:
                return INVALID
            if len(v302) != 1:
                return INVALID
            pass
        else:
            v305 = None
            v306 = v302['definitions']
            if type(v306) is not list:
                return INVALID
            if len(v306) < 1:
                return INVALID
            v308 = None
            for v309, v307 in enumerate(v306):
                if type(v307) is not dict:
                    return INVALID
                v310 = None
                v311 = v307['name']
                if type(v311) is not str or not v311:
                    return INVALID
                v312 = v307['kind']
                if type(v312) is not str or not v312:
                    return INVALID
                v313 = v307['definition']
                if type(v313) is not dict:
                    return INVALID
                v314 = None
                v315 = v313['digest']
                if type(v315) is not str or C70(v315) is None:
                    return INVALID
                v316 = v313['size']
                v317 = type(v316)
                if v317 is int:
                    if not (0 <= v316 <= 9007199254740991):
                        return INVALID
                    pass
                elif v317 is float:
                    if not v316.is_integer() or not (0.0 <= v316 <= INF):
                        return INVALID
                    v318 = FIX_FLOAT(v316)
                    if v318 is not v316:
                        if v314 is None:
                            v314 = {}
                            pass
                        v314['size'] = v318
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v319 = v313['media_type']
                if type(v319) is not str or (v319 not in C71 and not C72(v319)):
                    return INVALID
                if len(v313) != 3:
                    return INVALID
                if v314 is not None:
                    v320 = {**v313, **v314}
                    if v310 is None:
                        v310 = {}
                        pass
                    v310['definition'] = v320
                    pass
                if len(v307) != 3:
                    return INVALID
                if v310 is not None:
                    v321 = {**v307, **v310}
                    if v308 is None:
                        v308 = list(v306)
                        pass
                    v308[v309] = v321
                    pass
                pass
            if v308 is not None:
                if v305 is None:
                    v305 = {}
                    pass
                v305['definitions'] = v308
                pass
            v322 = [v307['name'] for v307 in v306]
            if len(set(v322)) != len(v322):
                return INVALID
            v323 = v302['choice']
            v324 = type(v323)
            if v324 is dict and 'absent' in v323:
                v325 = v323['absent']
                if v325 not in C73:
                    return INVALID
                if len(v323) != 1:
                    return INVALID
                pass
            else:
                v326 = type(v323)
                if v326 is str:
                    if v323 not in C74:
                        return INVALID
                    pass
                elif v326 is dict:
                    if type(v323) is not dict:
                        return INVALID
                    v327 = v323['name']
                    if type(v327) is not str or not v327:
                        return INVALID
                    if len(v323) != 1:
                        return INVALID
                    pass
                else:
                    return INVALID
                    pass
                pass
            if len(v302) != 2:
                return INVALID
            if v305 is not None:
                v328 = {**v302, **v305}
                if v1 is None:
                    v1 = {}
                    pass
                v1['tools'] = v328
                pass
            pass
        v329 = v0['runtime']
        v330 = type(v329)
        if v330 is not dict:
            return INVALID
        if 'absent' in v329:
            v331 = v329['absent']
            if v331 not in C75:
                return INVALID
            if len(v329) != 1:
                return INVALID
            pass
        else:
            v332 = None
            v333 = v329['engine']
            v334 = type(v333)
            if v334 is not dict:
                return INVALID
            if 'absent' in v333:
                v335 = v333['absent']
                if v335 not in C76:
                    return INVALID
                if len(v333) != 1:
                    return INVALID
                pass
            else:
                v336 = v333['name']
                if type(v336) is not str or not v336:
                    return INVALID
                v337 = v333['version']
                v338 = type(v337)
                if v338 is dict:
                    v339 = v337['absent']
                    if v339 not in C77:
                        return INVALID
                    if len(v337) != 1:
                        return INVALID
                    pass
                else:
                    if type(v337) is not str or not v337:
                        return INVALID
                    pass
                if len(v333) != 2:
                    return INVALID
                pass
            v340 = v329['libraries']
            if type(v340) is not dict:
                return INVALID
            for v341, v342 in v340.items():
                if type(v341) is not str:
                    return INVALID
                if type(v342) is not str or not v342:
                    return INVALID
                pass
            v343 = v329['platform']
            v344 = type(v343)
            if v344 is not dict:
                return INVALID
            if 'absent' in v343:
                v345 = v343['absent']
                if v345 not in C78:
                    return INVALID
                if len(v343) != 1:
                    return INVALID
                pass
            else:
                v346 = v343['os']
                if type(v346) is not str or not v346:
                    return INVALID
                v347 = v343['arch']
                if type(v347) is not str or not v347:
                    return INVALID
                v348 = v343['python']
                v349 = type(v348)
                if v349 is dict:
                    v350 = v348['absent']
                    if v350 not in C79:
                        return INVALID
                    if len(v348) != 1:
                        return INVALID
                    pass
                else:
                    if type(v348) is not str or not v348:
                        return INVALID
                    pass
                if len(v343) != 3:
                    return INVALID
                pass
            v351 = v329['hardware']
            v352 = type(v351)
            if v352 is dict:
                v353 = v351['absent']
                if v353 not in C80:
                    return INVALID
                if len(v351) != 1:
                    return INVALID
                pass
            else:
                if type(v351) is not str or not v351:
                    return INVALID
                pass
            v354 = v329['code']
            v355 = type(v354)
            if v355 is not dict:
                return INVALID
            if 'absent' in v354:
                v356 = v354['absent']
                if v356 not in C81:
                    return INVALID
                if len(v354) != 1:
                    return INVALID
                pass
            else:
                v357 = v354['repository']
                v358 = type(v357)
                if v358 is dict:
                    v359 = v357['absent']
                    if v359 not in C82:
                        return INVALID
                    if len(v357) != 1:
                        return INVALID
                    pass
                else:
                    if type(v357) is not str or not v357:
                        return INVALID
                    pass
                v360 = v354['revision']
                if type(v360) is not str or not v360:
                    return INVALID
                v361 = v354['dirty']
                v362 = type(v361)
                if v362 is dict:
                    v363 = v361['absent']
                    if v363 not in C83:
                        return INVALID
                    if len(v361) != 1:
                        return INVALID
                    pass
                else:
                    if type(v361) is not str or C84(v361) is None:
                        return INVALID
                    pass
                if len(v354) != 3:
                    return INVALID
                pass
            v364 = v329['determinism']
            if type(v364) is not dict:
                return INVALID
            v365 = None
            for v366, v367 in v364.items():
                if type(v366) is not str:
                    return INVALID
                v368 = NORMALIZE(v367, 3)
                if v368 is not v367:
                    if v365 is None:
                        v365 = {}
                        pass
                    v365[v366] = v368
                    pass
                pass
            if v365 is not None:
                v369 = {**v364, **v365}
                if v332 is None:
                    v332 = {}
                    pass
                v332['determinism'] = v369
                pass
            if len(v329) != 6:
                return INVALID
            if v332 is not None:
                v370 = {**v329, **v332}
                if v1 is None:
                    v1 = {}
                    pass
                v1['runtime'] = v370
                pass
            pass
        v371 = v0['constraints']
        v372 = type(v371)
        if v372 is not dict:
            return INVALID
        if 'absent' in v371:
            v373 = v371['absent']
            if v373 not in C85:
                return INVALID
            if len(v371) != 1:
                return INVALID
            pass
        else:
            v374 = None
            v375 = v371['output_schema']
            v376 = type(v375)
            if v376 is not dict:
                return INVALID
            if 'absent' in v375:
                v377 = v375['absent']
                if v377 not in C86:
                    return INVALID
                if len(v375) != 1:
                    return INVALID
                pass
            else:
                v378 = None
                v379 = v375['digest']
                if type(v379) is not str or C87(v379) is None:
                    return INVALID
                v380 = v375['size']
                v381 = type(v380)
                if v381 is int:
                    if not (0 <= v380 <= 9007199254740991):
                        return INVALID
                    pass
                elif v381 is float:
                    if not v380.is_integer() or not (0.0 <= v380 <= INF):
                        return INVALID
                    v382 = FIX_FLOAT(v380)
                    if v382 is not v380:
                        if v378 is None:
                            v378 = {}
                            pass
                        v378['size'] = v382
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v383 = v375['media_type']
                if type(v383) is not str or (v383 not in C88 and not C89(v383)):
                    return INVALID
                if len(v375) != 3:
                    return INVALID
                if v378 is not None:
                    v384 = {**v375, **v378}
                    if v374 is None:
                        v374 = {}
                        pass
                    v374['output_schema'] = v384
                    pass
                pass
            v385 = v371['guardrails']
            if type(v385) is not list:
                return INVALID
            v387 = None
            for v388, v386 in enumerate(v385):
                if type(v386) is not dict:
                    return INVALID
                v389 = None
                v390 = v386['name']
                if type(v390) is not str or not v390:
                    return INVALID
                v391 = v386['version']
                v392 = type(v391)
                if v392 is dict:
                    v393 = v391['absent']
                    if v393 not in C90:
                        return INVALID
                    if len(v391) != 1:
                        return INVALID
                    pass
                else:
                    if type(v391) is not str or not v391:
                        return INVALID
                    pass
                v394 = v386['config']
                v395 = type(v394)
                if v395 is not dict:
                    return INVALID
                if 'absent' in v394:
                    v396 = v394['absent']
                    if v396 not in C91:
                        return INVALID
                    if len(v394) != 1:
                        return INVALID
                    pass
                else:
                    v397 = None
                    v398 = v394['digest']
                    if type(v398) is not str or C92(v398) is None:
                        return INVALID
                    v399 = v394['size']
                    v400 = type(v399)
                    if v400 is int:
                        if not (0 <= v399 <= 9007199254740991):
                            return INVALID
                        pass
                    elif v400 is float:
                        if not v399.is_integer() or not (0.0 <= v399 <= INF):
                            return INVALID
                        v401 = FIX_FLOAT(v399)
                        if v401 is not v399:
                            if v397 is None:
                                v397 = {}
                                pass
                            v397['size'] = v401
                            pass
                        pass
                    else:
                        return INVALID
                        pass
                    v402 = v394['media_type']
                    if type(v402) is not str or (v402 not in C93 and not C94(v402)):
                        return INVALID
                    if len(v394) != 3:
                        return INVALID
                    if v397 is not None:
                        v403 = {**v394, **v397}
                        if v389 is None:
                            v389 = {}
                            pass
                        v389['config'] = v403
                        pass
                    pass
                if len(v386) != 3:
                    return INVALID
                if v389 is not None:
                    v404 = {**v386, **v389}
                    if v387 is None:
                        v387 = list(v385)
                        pass
                    v387[v388] = v404
                    pass
                pass
            if v387 is not None:
                if v374 is None:
                    v374 = {}
                    pass
                v374['guardrails'] = v387
                pass
            v405 = [v386['name'] for v386 in v385]
            if len(set(v405)) != len(v405):
                return INVALID
            v406 = v371['budgets']
            if type(v406) is not dict:
                return INVALID
            v407 = None
            for v408, v409 in v406.items():
                if type(v408) is not str:
                    return INVALID
                v410 = type(v409)
                if v410 is int:
                    if not (0 <= v409 <= 9007199254740991):
                        return INVALID
                    pass
                elif v410 is float:
                    if not (0.0 <= v409 <= INF):
                        return INVALID
                    v411 = FIX_FLOAT(v409)
                    if v411 is not v409:
                        if v407 is None:
                            v407 = {}
                            pass
                        v407[v408] = v411
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            if v407 is not None:
                v412 = {**v406, **v407}
                if v374 is None:
                    v374 = {}
                    pass
                v374['budgets'] = v412
                pass
            if len(v371) != 3:
                return INVALID
            if v374 is not None:
                v413 = {**v371, **v374}
                if v1 is None:
                    v1 = {}
                    pass
                v1['constraints'] = v413
                pass
            pass
        if len(v0) != 9:
            return INVALID
        if v1 is not None:
            v414 = {**v0, **v1}
            v0 = v414
            pass
    except (KeyError, TypeError, REJECT):
        return INVALID
    return v0


def record(v0):
    try:
        if type(v0) is not dict:
            return INVALID
        v1 = 10
        v2 = None
        v3 = v0['spec']
        if v3 != 'runid/record/v1':
            return INVALID
        v4 = v0['declaration_id']
        if type(v4) is not str or C6(v4) is None:
            return INVALID
        v5 = v0['execution_id']
        if type(v5) is not str or C7(v5) is None:
            return INVALID
        v6 = v0['issuer']
        if type(v6) is not dict:
            return INVALID
        v7 = v6['name']
        if type(v7) is not str or C8(v7) is None:
            return INVALID
        v8 = v6['key_id']
        if type(v8) is not str or C9(v8) is None:
            return INVALID
        if len(v6) != 2:
            return INVALID
        v9 = v0['started_at']
        if type(v9) is not str or C10(v9) is None or not C11(v9):
            return INVALID
        v10 = v0['ended_at']
        if type(v10) is not str or C12(v10) is None or not C13(v10):
            return INVALID
        v11 = v0['nonce']
        if type(v11) is not str or C14(v11) is None:
            return INVALID
        v12 = v0['observed']
        if type(v12) is not dict:
            return INVALID
        v13 = 5
        v14 = None
        v15 = v12['served_model']
        v16 = type(v15)
        if v16 is dict:
            v17 = v15['absent']
            if v17 not in C15:
                return INVALID
            if len(v15) != 1:
                return INVALID
            pass
        else:
            if type(v15) is not str or not v15:
                return INVALID
            pass
        v18 = v12['system_fingerprint']
        v19 = type(v18)
        if v19 is dict:
            v20 = v18['absent']
            if v20 not in C16:
                return INVALID
            if len(v18) != 1:
                return INVALID
            pass
        else:
            if type(v18) is not str or not v18:
                return INVALID
            pass
        v21 = v12['response_id']
        v22 = type(v21)
        if v22 is dict:
            v23 = v21['absent']
            if v23 not in C17:
                return INVALID
            if len(v21) != 1:
                return INVALID
            pass
        else:
            if type(v21) is not str or not v21:
                return INVALID
            pass
        v24 = v12['usage']
        v25 = type(v24)
        if v25 is not dict:
            return INVALID
        if 'absent' in v24:
            v26 = v24['absent']
            if v26 not in C18:
                return INVALID
            if len(v24) != 1:
                return INVALID
            pass
        else:
            v27 = None
            v28 = v24['input_tokens']
            v29 = type(v28)
            if v29 is dict:
                v30 = v28['absent']
                if v30 not in C19:
                    return INVALID
                if len(v28) != 1:
                    return INVALID
                pass
            else:
                v31 = type(v28)
                if v31 is int:
                    if not (0 <= v28 <= 9007199254740991):
                        return INVALID
                    pass
                elif v31 is float:
                    if not v28.is_integer() or not (0.0 <= v28 <= INF):
                        return INVALID
                    v32 = FIX_FLOAT(v28)
                    if v32 is not v28:
                        if v27 is None:
                            v27 = {}
                            pass
                        v27['input_tokens'] = v32
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            v33 = v24['output_tokens']
            v34 = type(v33)
            if v34 is dict:
                v35 = v33['absent']
                if v35 not in C20:
                    return INVALID
                if len(v33) != 1:
                    return INVALID
                pass
            else:
                v36 = type(v33)
                if v36 is int:
                    if not (0 <= v33 <= 9007199254740991):
                        return INVALID
                    pass
                elif v36 is float:
                    if not v33.is_integer() or not (0.0 <= v33 <= INF):
                        return INVALID
                    v37 = FIX_FLOAT(v33)
                    if v37 is not v33:
                        if v27 is None:
                            v27 = {}
                            pass
                        v27['output_tokens'] = v37
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            v38 = v24['other']
            if type(v38) is not dict:
                return INVALID
            v39 = None
            for v40, v41 in v38.items():
                if C21(v40) is None:
                    return INVALID
                v42 = type(v41)
                if v42 is int:
                    if not (0 <= v41 <= 9007199254740991):
                        return INVALID
                    pass
                elif v42 is float:
                    if not v41.is_integer() or not (0.0 <= v41 <= INF):
                        return INVALID
                    v43 = FIX_FLOAT(v41)
                    if v43 is not v41:
                        if v39 is None:
                            v39 = {}
                            pass
                        v39[v40] = v43
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            if v39 is not None:
                v44 = {**v38, **v39}
                if v27 is None:
                    v27 = {}
                    pass
                v27['other'] = v44
                pass
            if len(v24) != 3:
                return INVALID
            if v27 is not None:
                v45 = {**v24, **v27}
                if v14 is None:
                    v14 = {}
                    pass
                v14['usage'] = v45
                pass
            pass
        v46 = v12['finish_reason']
        v47 = type(v46)
        if v47 is dict:
            v48 = v46['absent']
            if v48 not in C22:
                return INVALID
            if len(v46) != 1:
                return INVALID
            pass
        else:
            if type(v46) is not str or not v46:
                return INVALID
            pass
        v49 = v12.get('endpoint', MISSING)
        if v49 is not MISSING:
            v13 += 1
            if type(v49) is not str or C23(v49) is None:
                return INVALID
            pass
        if len(v12) != v13:
            return INVALID
        if v14 is not None:
            v50 = {**v12, **v14}
            if v2 is None:
                v2 = {}
                pass
            v2['observed'] = v50
            pass
        v51 = v0['parent']
        v52 = type(v51)
        if v52 is not dict:
            return INVALID
        if 'absent' in v51:
            v53 = v51['absent']
            if v53 not in C24:
                return INVALID
            if len(v51) != 1:
                return INVALID
            pass
        else:
            v54 = None
            v55 = v51['execution_id']
            if type(v55) is not str or C25(v55) is None:
                return INVALID
            v56 = v51['step']
            v57 = type(v56)
            if v57 is int:
                if not (0 <= v56 <= 9007199254740991):
                    return INVALID
                pass
            elif v57 is float:
                if not v56.is_integer() or not (0.0 <= v56 <= INF):
                    return INVALID
                v58 = FIX_FLOAT(v56)
                if v58 is not v56:
                    if v54 is None:
                        v54 = {}
                        pass
                    v54['step'] = v58
                    pass
                pass
            else:
                return INVALID
                pass
            if len(v51) != 2:
                return INVALID
            if v54 is not None:
                v59 = {**v51, **v54}
                if v2 is None:
                    v2 = {}
                    pass
                v2['parent'] = v59
                pass
            pass
        v60 = v0.get('replay_of', MISSING)
        if v60 is not MISSING:
            v1 += 1
            if type(v60) is not str or C26(v60) is None:
                return INVALID
            pass
        v61 = v0['outcome']
        if type(v61) is dict and v61.get('status') == 'error':
            if type(v61) is not dict:
                return INVALID
            v62 = None
            v63 = v61['status']
            if v63 != 'error':
                return INVALID
            v64 = v61['outputs']
            if type(v64) is not list:
                return INVALID
            v66 = None
            for v67, v65 in enumerate(v64):
                if type(v65) is not dict:
                    return INVALID
                v68 = None
                v69 = v65['digest']
                if type(v69) is not str or C27(v69) is None:
                    return INVALID
                v70 = v65['size']
                v71 = type(v70)
                if v71 is int:
                    if not (0 <= v70 <= 9007199254740991):
                        return INVALID
                    pass
                elif v71 is float:
                    if not v70.is_integer() or not (0.0 <= v70 <= INF):
                        return INVALID
                    v72 = FIX_FLOAT(v70)
                    if v72 is not v70:
                        if v68 is None:
                            v68 = {}
                            pass
                        v68['size'] = v72
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v73 = v65['media_type']
                if type(v73) is not str or (v73 not in C28 and not C29(v73)):
                    return INVALID
                if len(v65) != 3:
                    return INVALID
                if v68 is not None:
                    v74 = {**v65, **v68}
                    if v66 is None:
                        v66 = list(v64)
                        pass
                    v66[v67] = v74
                    pass
                pass
            if v66 is not None:
                if v62 is None:
                    v62 = {}
                    pass
                v62['outputs'] = v66
                pass
            v75 = v61['error']
            if type(v75) is not dict:
                return INVALID
            v76 = None
            v77 = v75['type']
            if type(v77) is not str or not v77:
                return INVALID
            v78 = v75['message']
            v79 = type(v78)
            if v79 is not dict:
                return INVALID
            if 'absent' in v78:
                v80 = v78['absent']
                if v80 not in C30:
                    return INVALID
                if len(v78) != 1:
                    return INVALID
                pass
            else:
                v81 = None
                v82 = v78['digest']
                if type(v82) is not str or C31(v82) is None:
                    return INVALID
                v83 = v78['size']
                v84 = type(v83)
                if v84 is int:
                    if not (0 <= v83 <= 9007199254740991):
                        return INVALID
                    pass
                elif v84 is float:
                    if not v83.is_integer() or not (0.0 <= v83 <= INF):
                        return INVALID
                    v85 = FIX_FLOAT(v83)
                    if v85 is not v83:
                        if v81 is None:
                            v81 = {}
                            pass
                        v81['size'] = v85
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v86 = v78['media_type']
                if type(v86) is not str or (v86 not in C32 and not C33(v86)):
                    return INVALID
                if len(v78) != 3:
                    return INVALID
                if v81 is not None:
                    v87 = {**v78, **v81}
                    if v76 is None:
                        v76 = {}
                        pass
                    v76['message'] = v87
                    pass
                pass
            if len(v75) != 2:
                return INVALID
            if v76 is not None:
                v88 = {**v75, **v76}
                if v62 is None:
                    v62 = {}
                    pass
                v62['error'] = v88
                pass
            if len(v61) != 3:
                return INVALID
            if v62 is not None:
                v89 = {**v61, **v62}
                if v2 is None:
                    v2 = {}
                    pass
                v2['outcome'] = v89
                pass
            pass
        else:
            if type(v61) is not dict:
                return INVALID
            v90 = None
            v91 = v61['status']
            if v91 != 'ok':
                return INVALID
            v92 = v61['outputs']
            if type(v92) is not list:
                return INVALID
            v94 = None
            for v95, v93 in enumerate(v92):
                if type(v93) is not dict:
                    return INVALID
                v96 = None
                v97 = v93['digest']
                if type(v97) is not str or C34(v97) is None:
                    return INVALID
                v98 = v93['size']
                v99 = type(v98)
                if v99 is int:
                    if not (0 <= v98 <= 9007199254740991):
                        return INVALID
                    pass
                elif v99 is float:
                    if not v98.is_integer() or not (0.0 <= v98 <= INF):
                        return INVALID
                    v100 = FIX_FLOAT(v98)
                    if v100 is not v98:
                        if v96 is None:
                            v96 = {}
                            pass
                        v96['size'] = v100
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v101 = v93['media_type']
                if type(v101) is not str or (v101 not in C35 and not C36(v101)):
                    return INVALID
                if len(v93) != 3:
                    return INVALID
                if v96 is not None:
                    v102 = {**v93, **v96}
                    if v94 is None:
                        v94 = list(v92)
                        pass
                    v94[v95] = v102
                    pass
                pass
            if v94 is not None:
                if v90 is None:
                    v90 = {}
                    pass
                v90['outputs'] = v94
                pass
            if len(v61) != 2:
                return INVALID
            if v90 is not None:
                v103 = {**v61, **v90}
                if v2 is None:
                    v2 = {}
                    pass
                v2['outcome'] = v103
                pass
            pass
        if len(v0) != v1:
            return INVALID
        if v2 is not None:
            v104 = {**v0, **v2}
            v0 = v104
            pass
    except (KeyError, TypeError, REJECT):
        return INVALID
    return v0


def record_body(v0):
    try:
        if type(v0) is not dict:
            return INVALID
        v1 = 9
        v2 = None
        v3 = v0['spec']
        if v3 != 'runid/record/v1':
            return INVALID
        v4 = v0['declaration_id']
        if type(v4) is not str or C6(v4) is None:
            return INVALID
        v5 = v0['issuer']
        if type(v5) is not dict:
            return INVALID
        v6 = v5['name']
        if type(v6) is not str or C7(v6) is None:
            return INVALID
        v7 = v5['key_id']
        if type(v7) is not str or C8(v7) is None:
            return INVALID
        if len(v5) != 2:
            return INVALID
        v8 = v0['started_at']
        if type(v8) is not str or C9(v8) is None or not C10(v8):
            return INVALID
        v9 = v0['ended_at']
        if type(v9) is not str or C11(v9) is None or not C12(v9):
            return INVALID
        v10 = v0['nonce']
        if type(v10) is not str or C13(v10) is None:
            return INVALID
        v11 = v0['observed']
        if type(v11) is not dict:
            return INVALID
        v12 = 5
        v13 = None
        v14 = v11['served_model']
        v15 = type(v14)
        if v15 is dict:
            v16 = v14['absent']
            if v16 not in C14:
                return INVALID
            if len(v14) != 1:
                return INVALID
            pass
        else:
            if type(v14) is not str or not v14:
                return INVALID
            pass
        v17 = v11['system_fingerprint']
        v18 = type(v17)
        if v18 is dict:
            v19 = v17['absent']
            if v19 not in C15:
                return INVALID
            if len(v17) != 1:
                return INVALID
            pass
        else:
            if type(v17) is not str or not v17:
                return INVALID
            pass
        v20 = v11['response_id']
        v21 = type(v20)
        if v21 is dict:
            v22 = v20['absent']
            if v22 not in C16:
                return INVALID
            if len(v20) != 1:
                return INVALID
            pass
        else:
            if type(v20) is not str or not v20:
                return INVALID
            pass
        v23 = v11['usage']
        v24 = type(v23)
        if v24 is not dict:
            return INVALID
        if 'absent' in v23:
            v25 = v23['absent']
            if v25 not in C17:
                return INVALID
            if len(v23) != 1:
                return INVALID
            pass
        else:
            v26 = None
            v27 = v23['input_tokens']
            v28 = type(v27)
            if v28 is dict:
                v29 = v27['absent']
                if v29 not in C18:
                    return INVALID
                if len(v27) != 1:
                    return INVALID
                pass
            else:
                v30 = type(v27)
                if v30 is int:
                    if not (0 <= v27 <= 9007199254740991):
                        return INVALID
                    pass
                elif v30 is float:
                    if not v27.is_integer() or not (0.0 <= v27 <= INF):
                        return INVALID
                    v31 = FIX_FLOAT(v27)
                    if v31 is not v27:
                        if v26 is None:
                            v26 = {}
                            pass
                        v26['input_tokens'] = v31
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            v32 = v23['output_tokens']
            v33 = type(v32)
            if v33 is dict:
                v34 = v32['absent']
                if v34 not in C19:
                    return INVALID
                if len(v32) != 1:
                    return INVALID
                pass
            else:
                v35 = type(v32)
                if v35 is int:
                    if not (0 <= v32 <= 9007199254740991):
                        return INVALID
                    pass
                elif v35 is float:
                    if not v32.is_integer() or not (0.0 <= v32 <= INF):
                        return INVALID
                    v36 = FIX_FLOAT(v32)
                    if v36 is not v32:
                        if v26 is None:
                            v26 = {}
                            pass
                        v26['output_tokens'] = v36
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            v37 = v23['other']
            if type(v37) is not dict:
                return INVALID
            v38 = None
            for v39, v40 in v37.items():
                if C20(v39) is None:
                    return INVALID
                v41 = type(v40)
                if v41 is int:
                    if not (0 <= v40 <= 9007199254740991):
                        return INVALID
                    pass
                elif v41 is float:
                    if not v40.is_integer() or not (0.0 <= v40 <= INF):
                        return INVALID
                    v42 = FIX_FLOAT(v40)
                    if v42 is not v40:
                        if v38 is None:
                            v38 = {}
                            pass
                        v38[v39] = v42
                        pass
                    pass
                else:
                    return INVALID
                    pass
                pass
            if v38 is not None:
                v43 = {**v37, **v38}
                if v26 is None:
                    v26 = {}
                    pass
                v26['other'] = v43
                pass
            if len(v23) != 3:
                return INVALID
            if v26 is not None:
                v44 = {**v23, **v26}
                if v13 is None:
                    v13 = {}
                    pass
                v13['usage'] = v44
                pass
            pass
        v45 = v11['finish_reason']
        v46 = type(v45)
        if v46 is dict:
            v47 = v45['absent']
            if v47 not in C21:
                return INVALID
            if len(v45) != 1:
                return INVALID
            pass
        else:
            if type(v45) is not str or not v45:
                return INVALID
            pass
        v48 = v11.get('endpoint', MISSING)
        if v48 is not MISSING:
            v12 += 1
            if type(v48) is not str or C22(v48) is None:
                return INVALID
            pass
        if len(v11) != v12:
            return INVALID
        if v13 is not None:
            v49 = {**v11, **v13}
            if v2 is None:
                v2 = {}
                pass
            v2['observed'] = v49
            pass
        v50 = v0['parent']
        v51 = type(v50)
        if v51 is not dict:
            return INVALID
        if 'absent' in v50:
            v52 = v50['absent']
            if v52 not in C23:
                return INVALID
            if len(v50) != 1:
                return INVALID
            pass
        else:
            v53 = None
            v54 = v50['execution_id']
            if type(v54) is not str or C24(v54) is None:
                return INVALID
            v55 = v50['step']
            v56 = type(v55)
            if v56 is int:
                if not (0 <= v55 <= 9007199254740991):
                    return INVALID
                pass
            elif v56 is float:
                if not v55.is_integer() or not (0.0 <= v55 <= INF):
                    return INVALID
                v57 = FIX_FLOAT(v55)
                if v57 is not v55:
                    if v53 is None:
                        v53 = {}
                        pass
                    v53['step'] = v57
                    pass
                pass
            else:
                return INVALID
                pass
            if len(v50) != 2:
                return INVALID
            if v53 is not None:
                v58 = {**v50, **v53}
                if v2 is None:
                    v2 = {}
                    pass
                v2['parent'] = v58
                pass
            pass
        v59 = v0.get('replay_of', MISSING)
        if v59 is not MISSING:
            v1 += 1
            if type(v59) is not str or C25(v59) is None:
                return INVALID
            pass
        v60 = v0['outcome']
        if type(v60) is dict and v60.get('status') == 'error':
            if type(v60) is not dict:
                return INVALID
            v61 = None
            v62 = v60['status']
            if v62 != 'error':
                return INVALID
            v63 = v60['outputs']
            if type(v63) is not list:
                return INVALID
            v65 = None
            for v66, v64 in enumerate(v63):
                if type(v64) is not dict:
                    return INVALID
                v67 = None
                v68 = v64['digest']
                if type(v68) is not str or C26(v68) is None:
                    return INVALID
                v69 = v64['size']
                v70 = type(v69)
                if v70 is int:
                    if not (0 <= v69 <= 9007199254740991):
                        return INVALID
                    pass
                elif v70 is float:
                    if not v69.is_integer() or not (0.0 <= v69 <= INF):
                        return INVALID
                    v71 = FIX_FLOAT(v69)
                    if v71 is not v69:
                        if v67 is None:
                            v67 = {}
                            pass
                        v67['size'] = v71
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v72 = v64['media_type']
                if type(v72) is not str or (v72 not in C27 and not C28(v72)):
                    return INVALID
                if len(v64) != 3:
                    return INVALID
                if v67 is not None:
                    v73 = {**v64, **v67}
                    if v65 is None:
                        v65 = list(v63)
                        pass
                    v65[v66] = v73
                    pass
                pass
            if v65 is not None:
                if v61 is None:
                    v61 = {}
                    pass
                v61['outputs'] = v65
                pass
            v74 = v60['error']
            if type(v74) is not dict:
                return INVALID
            v75 = None
            v76 = v74['type']
            if type(v76) is not str or not v76:
                return INVALID
            v77 = v74['message']
            v78 = type(v77)
            if v78 is not dict:
                return INVALID
            if 'absent' in v77:
                v79 = v77['absent']
                if v79 not in C29:
                    return INVALID
                if len(v77) != 1:
                    return INVALID
                pass
            else:
                v80 = None
                v81 = v77['digest']
                if type(v81) is not str or C30(v81) is None:
                    return INVALID
                v82 = v77['size']
                v83 = type(v82)
                if v83 is int:
                    if not (0 <= v82 <= 9007199254740991):
                        return INVALID
                    pass
                elif v83 is float:
                    if not v82.is_integer() or not (0.0 <= v82 <= INF):
                        return INVALID
                    v84 = FIX_FLOAT(v82)
                    if v84 is not v82:
                        if v80 is None:
                            v80 = {}
                            pass
                        v80['size'] = v84
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v85 = v77['media_type']
                if type(v85) is not str or (v85 not in C31 and not C32(v85)):
                    return INVALID
                if len(v77) != 3:
                    return INVALID
                if v80 is not None:
                    v86 = {**v77, **v80}
                    if v75 is None:
                        v75 = {}
                        pass
                    v75['message'] = v86
                    pass
                pass
            if len(v74) != 2:
                return INVALID
            if v75 is not None:
                v87 = {**v74, **v75}
                if v61 is None:
                    v61 = {}
                    pass
                v61['error'] = v87
                pass
            if len(v60) != 3:
                return INVALID
            if v61 is not None:
                v88 = {**v60, **v61}
                if v2 is None:
                    v2 = {}
                    pass
                v2['outcome'] = v88
                pass
            pass
        else:
            if type(v60) is not dict:
                return INVALID
            v89 = None
            v90 = v60['status']
            if v90 != 'ok':
                return INVALID
            v91 = v60['outputs']
            if type(v91) is not list:
                return INVALID
            v93 = None
            for v94, v92 in enumerate(v91):
                if type(v92) is not dict:
                    return INVALID
                v95 = None
                v96 = v92['digest']
                if type(v96) is not str or C33(v96) is None:
                    return INVALID
                v97 = v92['size']
                v98 = type(v97)
                if v98 is int:
                    if not (0 <= v97 <= 9007199254740991):
                        return INVALID
                    pass
                elif v98 is float:
                    if not v97.is_integer() or not (0.0 <= v97 <= INF):
                        return INVALID
                    v99 = FIX_FLOAT(v97)
                    if v99 is not v97:
                        if v95 is None:
                            v95 = {}
                            pass
                        v95['size'] = v99
                        pass
                    pass
                else:
                    return INVALID
                    pass
                v100 = v92['media_type']
                if type(v100) is not str or (v100 not in C34 and not C35(v100)):
                    return INVALID
                if len(v92) != 3:
                    return INVALID
                if v95 is not None:
                    v101 = {**v92, **v95}
                    if v93 is None:
                        v93 = list(v91)
                        pass
                    v93[v94] = v101
                    pass
                pass
            if v93 is not None:
                if v89 is None:
                    v89 = {}
                    pass
                v89['outputs'] = v93
                pass
            if len(v60) != 2:
                return INVALID
            if v89 is not None:
                v102 = {**v60, **v89}
                if v2 is None:
                    v2 = {}
                    pass
                v2['outcome'] = v102
                pass
            pass
        if len(v0) != v1:
            return INVALID
        if v2 is not None:
            v103 = {**v0, **v2}
            v0 = v103
            pass
    except (KeyError, TypeError, REJECT):
        return INVALID
    return v0
